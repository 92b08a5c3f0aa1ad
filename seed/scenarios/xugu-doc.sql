-- xugu-doc: XuguDB's SYS_GSTORES page, reproduced on a fresh 3-node server
-- (serve --nodes 3, the default).
--
-- Setup: bring the server to the page's starting point, where 216 was the
-- last user gsto_no (user stores start at 201). Three stores with two
-- replicas each (STORE_STA 9, placed so every node holds the same number),
-- then thirteen with three.
CREATE DATABASE IF NOT EXISTS xugu;
USE xugu;
CREATE TABLE gsto_two_copies (c1 INT, c2 INT) COMMENT 'copy_num=2' PARTITION BY HASH(c2) PARTITIONS 2;
CREATE TABLE gsto_filler (c1 INT, c2 INT) PARTITION BY HASH(c2) PARTITIONS 12;

-- The page: a hash-partitioned table takes one store per partition, then one
-- for the table: PART1..PART10 = 217..226, the table 227.
CREATE TABLE tab_hash(
  c1 INT PRIMARY KEY, c2 INT, c3 VARCHAR(20), c4 CHAR(10), c5 BIGINT, c6 SMALLINT,
  c7 TINYINT, c8 NUMERIC(10,2), c9 DOUBLE, c10 DATE, c11 DATETIME, c12 VARCHAR(200)
) PARTITION BY HASH(c2) PARTITIONS 10;
SELECT a.parti_no, a.parti_name, a.gsto_nos FROM sys_partis a, sys_objects b
  WHERE a.table_id = b.obj_id AND b.obj_name = 'TAB_HASH' ORDER BY a.parti_no;
SELECT a.* FROM sys_gstores a, sys_objects b
  WHERE a.obj_id = b.obj_id AND b.obj_name = 'TAB_HASH' ORDER BY a.gsto_no;
-- Stores not in the healthy three-replica state (41 = 10 10 01).
SELECT COUNT(*) FROM SYS_GSTORES WHERE store_sta != 41;

-- The page's offline example: node 2 is down when the table is created; the
-- third version has nowhere to go: STORE_STA 57 (11 10 01), nodes 1, 3, 0.
-- Bring the node back with CALL node_online(2).
CALL node_offline(2);
CREATE TABLE tab_gstore(c1 INT);
SELECT a.gsto_no, a.store_sta, a.node_id1, a.node_id2, a.node_id3 FROM sys_gstores a, sys_objects b
  WHERE a.obj_id = b.obj_id AND b.obj_name = 'TAB_GSTORE';
