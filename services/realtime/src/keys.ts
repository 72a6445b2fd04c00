/**
 * Names of Socket.IO rooms and Redis keys. Every one carries the app (sourceAccountId), so one app's
 * sockets can never be addressed through another app's room; Redis keys additionally start with
 * REDIS_KEY_PREFIX (the adapter's pub/sub channels too), so deployments can share one Redis.
 */

/** Socket.IO room names (scoped by account; the adapter's channel prefix adds REDIS_KEY_PREFIX). */
export const rooms = {
  room: (account: string, roomId: string) => `${account}:room:${roomId}`,
  user: (account: string, userId: string) => `${account}:user:${userId}`,
  presence: (account: string, userId: string) => `${account}:presence:${userId}`,
};

export interface Keys {
  prefix: string;
  /** The adapter's pub/sub key (channel prefix). */
  adapter: string;
  instances: string;
  instanceSockets(instanceId: string): string;
  socket(socketId: string): string;
  socketRooms(socketId: string): string;
  userSockets(account: string, userId: string): string;
  presence(account: string, userId: string): string;
  userRooms(account: string, userId: string): string;
  userRoomsVersion(account: string, userId: string): string;
  /** Global index of online users by last activity (away sweeper). */
  activity: string;
  activityMember(account: string, userId: string): string;
  roomMeta(account: string, roomId: string): string;
  roomMember(account: string, roomId: string, userId: string): string;
  roomSeq(account: string, roomId: string): string;
  roomLog(account: string, roomId: string): string;
  roomOnline(account: string, roomId: string): string;
  roomTyping(account: string, roomId: string): string;
  /** Global typing expiry index. */
  typing: string;
  maintenanceLock: string;
}

export function createKeys(prefix: string): Keys {
  const a = (account: string) => `${prefix}:a:${account}`;
  return {
    prefix,
    adapter: `${prefix}:sio`,
    instances: `${prefix}:instances`,
    instanceSockets: (id) => `${prefix}:inst:${id}`,
    socket: (id) => `${prefix}:sock:${id}`,
    socketRooms: (id) => `${prefix}:sock:${id}:rooms`,
    userSockets: (account, userId) => `${a(account)}:u:${userId}:socks`,
    presence: (account, userId) => `${a(account)}:u:${userId}:presence`,
    userRooms: (account, userId) => `${a(account)}:u:${userId}:rooms`,
    userRoomsVersion: (account, userId) => `${a(account)}:u:${userId}:rooms:v`,
    activity: `${prefix}:activity`,
    activityMember: (account, userId) => `${account}|${userId}`,
    roomMeta: (account, roomId) => `${a(account)}:r:${roomId}:meta`,
    roomMember: (account, roomId, userId) => `${a(account)}:r:${roomId}:m:${userId}`,
    roomSeq: (account, roomId) => `${a(account)}:r:${roomId}:seq`,
    roomLog: (account, roomId) => `${a(account)}:r:${roomId}:log`,
    roomOnline: (account, roomId) => `${a(account)}:r:${roomId}:online`,
    roomTyping: (account, roomId) => `${a(account)}:r:${roomId}:typing`,
    typing: `${prefix}:typing`,
    maintenanceLock: `${prefix}:lock:maintenance`,
  };
}
