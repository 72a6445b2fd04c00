// Prisma 7 CLI config: generates the client into src/generated. In Docker (where Prisma's engine can be
// downloaded) the migrate service runs `prisma migrate deploy` with this file; on machines without it,
// prisma/scripts/migrate.ts applies the same migrations with Prisma 6.19.3's WASM engine.
import { defineConfig } from 'prisma/config';

export default defineConfig({
  schema: '../../prisma/schema',
  migrations: { path: '../../prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost/unused' },
});
