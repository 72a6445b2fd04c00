import { afterAll, describe, expect, it } from 'vitest';
import { testInfra, uniqueName } from '@nself/test-support';
import { checkDatabase, createPrisma } from '../src/index.js';

describe('Prisma 7 client over @prisma/adapter-pg', () => {
  const prisma = createPrisma(testInfra().databaseUrl, { maxConnections: 2 });
  afterAll(() => prisma.$disconnect());

  it('answers the readiness check', async () => {
    await expect(checkDatabase(prisma)).resolves.toBeUndefined();
  });

  it('writes and reads rows with relations inside a transaction', async () => {
    const account = uniqueName('acct');
    const room = await prisma.$transaction(async (tx) => {
      const created = await tx.realtimeRoom.create({ data: { sourceAccountId: account, name: 'general' } });
      await tx.realtimeRoomMember.create({
        data: { sourceAccountId: account, roomId: created.id, userId: 'u1', role: 'owner' },
      });
      return created;
    });
    const found = await prisma.realtimeRoom.findUniqueOrThrow({
      where: { sourceAccountId_name: { sourceAccountId: account, name: 'general' } },
      include: { members: true },
    });
    expect(found.id).toBe(room.id);
    expect(found.members.map((m) => m.userId)).toEqual(['u1']);
    expect(found.lastMessageSeq).toBe(0n);
  });

  it('rolls back a failed transaction completely', async () => {
    const account = uniqueName('acct');
    await expect(
      prisma.$transaction(async (tx) => {
        await tx.realtimeRoom.create({ data: { sourceAccountId: account, name: 'a' } });
        await tx.realtimeRoom.create({ data: { sourceAccountId: account, name: 'a' } });
      }),
    ).rejects.toThrow();
    expect(await prisma.realtimeRoom.count({ where: { sourceAccountId: account } })).toBe(0);
  });
});
