-- realtime: views, cleanup functions and timestamp triggers (seed 004). Prisma does not model these,
-- so they live here; the drift check ignores them and the realtime service calls the functions.

-- updated_at for writes that do not go through Prisma (psql, Hasura).
CREATE OR REPLACE FUNCTION realtime_set_updated_at() RETURNS trigger AS $$
BEGIN
  NEW.updated_at := now();
  RETURN NEW;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER realtime_rooms_updated_at BEFORE UPDATE ON realtime_rooms
  FOR EACH ROW EXECUTE FUNCTION realtime_set_updated_at();
CREATE TRIGGER realtime_room_members_updated_at BEFORE UPDATE ON realtime_room_members
  FOR EACH ROW EXECUTE FUNCTION realtime_set_updated_at();
CREATE TRIGGER realtime_presence_updated_at BEFORE UPDATE ON realtime_presence
  FOR EACH ROW EXECUTE FUNCTION realtime_set_updated_at();

-- Deletes typing rows past their expiry; returns how many went.
CREATE OR REPLACE FUNCTION cleanup_expired_typing() RETURNS integer AS $$
DECLARE removed integer;
BEGIN
  DELETE FROM realtime_typing WHERE expires_at <= now();
  GET DIAGNOSTICS removed = ROW_COUNT;
  RETURN removed;
END;
$$ LANGUAGE plpgsql;

-- Marks connections not seen within stale_after as disconnected (a replica died without cleaning up)
-- and recounts presence for the users they belonged to.
CREATE OR REPLACE FUNCTION cleanup_stale_connections(stale_after interval) RETURNS integer AS $$
DECLARE removed integer;
BEGIN
  WITH stale AS (
    UPDATE realtime_connections
       SET status = 'disconnected', disconnected_at = now(), disconnect_reason = 'stale'
     WHERE status = 'connected' AND last_seen_at < now() - stale_after
    RETURNING source_account_id, user_id
  ), affected AS (
    SELECT DISTINCT source_account_id, user_id FROM stale WHERE user_id IS NOT NULL
  )
  UPDATE realtime_presence p
     SET connection_count = (
           SELECT count(*) FROM realtime_connections c
            WHERE c.source_account_id = p.source_account_id AND c.user_id = p.user_id
              AND c.status = 'connected'),
         status = CASE WHEN EXISTS (
           SELECT 1 FROM realtime_connections c
            WHERE c.source_account_id = p.source_account_id AND c.user_id = p.user_id
              AND c.status = 'connected') THEN p.status ELSE 'offline' END
    FROM affected a
   WHERE p.source_account_id = a.source_account_id AND p.user_id = a.user_id;
  SELECT count(*) INTO removed FROM realtime_connections
   WHERE status = 'disconnected' AND disconnect_reason = 'stale' AND disconnected_at >= now() - interval '1 second';
  RETURN removed;
END;
$$ LANGUAGE plpgsql;

-- online -> away after away_after of inactivity; anyone without a live connection -> offline.
CREATE OR REPLACE FUNCTION update_presence_from_activity(away_after interval) RETURNS integer AS $$
DECLARE changed integer;
BEGIN
  UPDATE realtime_presence
     SET status = CASE WHEN connection_count <= 0 THEN 'offline' ELSE 'away' END
   WHERE (status = 'online' AND last_active_at < now() - away_after)
      OR (status <> 'offline' AND connection_count <= 0);
  GET DIAGNOSTICS changed = ROW_COUNT;
  RETURN changed;
END;
$$ LANGUAGE plpgsql;

-- Drops event-log rows older than retention; returns how many went.
CREATE OR REPLACE FUNCTION cleanup_old_events(retention interval) RETURNS integer AS $$
DECLARE removed integer;
BEGIN
  DELETE FROM realtime_events WHERE created_at < now() - retention;
  GET DIAGNOSTICS removed = ROW_COUNT;
  RETURN removed;
END;
$$ LANGUAGE plpgsql;

-- Removes rows of connections that ended more than retention ago.
CREATE OR REPLACE FUNCTION cleanup_disconnected_connections(retention interval) RETURNS integer AS $$
DECLARE removed integer;
BEGIN
  DELETE FROM realtime_connections WHERE status = 'disconnected' AND disconnected_at < now() - retention;
  GET DIAGNOSTICS removed = ROW_COUNT;
  RETURN removed;
END;
$$ LANGUAGE plpgsql;

CREATE VIEW active_connections AS
SELECT c.id, c.source_account_id, c.socket_id, c.user_id, c.instance_id, c.transport, c.ip_address,
       c.user_agent, c.device, c.latency_ms, c.connected_at, c.last_seen_at,
       now() - c.connected_at AS connected_for
  FROM realtime_connections c
 WHERE c.status = 'connected';

CREATE VIEW room_stats AS
SELECT r.id AS room_id, r.source_account_id, r.name, r.type, r.visibility, r.is_active,
       r.last_message_seq AS message_count, r.last_message_at,
       (SELECT count(*) FROM realtime_room_members m WHERE m.room_id = r.id AND m.banned_at IS NULL) AS member_count,
       (SELECT count(*) FROM realtime_room_members m
          JOIN realtime_presence p ON p.source_account_id = m.source_account_id AND p.user_id = m.user_id
         WHERE m.room_id = r.id AND m.banned_at IS NULL AND p.status <> 'offline') AS online_count,
       (SELECT count(*) FROM realtime_typing t WHERE t.room_id = r.id AND t.expires_at > now()) AS typing_count
  FROM realtime_rooms r;

CREATE VIEW current_typing AS
SELECT t.id, t.source_account_id, t.room_id, NULLIF(t.thread_id, '') AS thread_id, t.user_id,
       t.started_at, t.expires_at
  FROM realtime_typing t
 WHERE t.expires_at > now();

CREATE VIEW presence_summary AS
SELECT p.source_account_id,
       count(*) FILTER (WHERE p.status = 'online') AS online,
       count(*) FILTER (WHERE p.status = 'away') AS away,
       count(*) FILTER (WHERE p.status = 'busy') AS busy,
       count(*) FILTER (WHERE p.status = 'offline') AS offline,
       sum(p.connection_count) FILTER (WHERE p.status <> 'offline') AS connections
  FROM realtime_presence p
 GROUP BY p.source_account_id;
