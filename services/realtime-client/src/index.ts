export { createRealtimeClient, RealtimeClient, RealtimeError, type RealtimeClientEvents, type RealtimeClientOptions, type TokenSource } from './client.js';
export { RoomSequencer, type SequencerCallbacks } from './sequencer.js';
export * from './contracts.js';
