-- stale-next-table-id: the situation GreptimeDB's "Table ID management" page
-- starts from. On a fresh server, tables with IDs 1024..1030 exist while the
-- table-ID sequence says 1026 -- as after restoring an old metadata backup.
-- The next CREATE TABLE would get an ID that is already in use; sysemu refuses
-- it and names the fix.
--
-- Detect:  SELECT TABLE_ID FROM INFORMATION_SCHEMA.TABLES ORDER BY TABLE_ID DESC LIMIT 1;  -- 1030
--          SELECT next_table_id();                                                        -- 1026
-- Fix:     CALL recovery_mode('on'); CALL set_next_table_id(1031); CALL recovery_mode('off');
CREATE DATABASE IF NOT EXISTS stale;
CREATE TABLE stale.t1024 (id BIGINT PRIMARY KEY, note VARCHAR(64));
CREATE TABLE stale.t1025 (id BIGINT PRIMARY KEY, note VARCHAR(64));
CREATE TABLE stale.t1026 (id BIGINT PRIMARY KEY, note VARCHAR(64));
CREATE TABLE stale.t1027 (id BIGINT PRIMARY KEY, note VARCHAR(64));
CREATE TABLE stale.t1028 (id BIGINT PRIMARY KEY, note VARCHAR(64));
CREATE TABLE stale.t1029 (id BIGINT PRIMARY KEY, note VARCHAR(64));
CREATE TABLE stale.t1030 (id BIGINT PRIMARY KEY, note VARCHAR(64));
INSERT INTO stale.t1026 VALUES (1, 'rows that must survive the fix');
-- The explicit, privileged, logged unsafe path (recorded in SYS_ID_EVENTS).
CALL fault_set_sequence('table_id', 1026);
