-- once
SET SESSION TRANSACTION READ ONLY;

-- once
SET SESSION TRANSACTION READ WRITE;

-- once
SET @@session.time_zone = 'UTC';

-- once
-- columns: global_tz, system_tz, offset
-- rows: 1
SELECT @@GLOBAL.time_zone AS global_tz, @@system_time_zone AS system_tz, time_format( timediff( now(), convert_tz(now(), @@GLOBAL.time_zone, '+00:00') ), '%H:%i' ) AS 'offset';

-- once
-- columns: VERSION()
SELECT VERSION();

-- once
-- rows: >=1
SHOW GRANTS FOR CURRENT_USER();

-- once
-- columns: @@session.auto_increment_increment, @@license, @@lower_case_table_names, @@max_allowed_packet, @@net_write_timeout, @@performance_schema, @@query_cache_size, @@query_cache_type, @@sql_mode, @@system_time_zone, @@time_zone, @@transaction_isolation, @@wait_timeout, @@tx_isolation
SELECT @@session.auto_increment_increment, @@license, @@lower_case_table_names, @@max_allowed_packet, @@net_write_timeout, @@performance_schema, @@query_cache_size, @@query_cache_type, @@sql_mode, @@system_time_zone, @@time_zone, @@transaction_isolation, @@wait_timeout, @@tx_isolation;

-- each
-- columns: _
-- rows: 0
SELECT TRUE AS `_` FROM `{db}`.`{table}` WHERE 1 <> 1 LIMIT 0;

-- each
-- columns: name, database-type, database-position, table-schema, table-name, pk?, field-comment, database-required, database-is-auto-increment
-- rows: >=1
SELECT c.column_name AS name, c.data_type AS `database-type`, c.ordinal_position - 1 AS `database-position`, c.table_schema AS `table-schema`, c.table_name AS `table-name`, c.column_key = 'PRI' AS `pk?`, NULLIF(c.column_comment, '') AS `field-comment`, (c.is_nullable = 'NO' AND c.column_default IS NULL AND c.extra NOT LIKE '%auto_increment%') AS `database-required`, (c.extra LIKE '%auto_increment%') AS `database-is-auto-increment` FROM information_schema.columns c WHERE c.table_schema = '{db}' AND c.table_name IN ('{table}') ORDER BY c.table_name, c.ordinal_position;

-- each
-- columns: fk-table-schema, fk-table-name, fk-column-name, pk-table-schema, pk-table-name, pk-column-name
SELECT fk_kcu.table_schema AS `fk-table-schema`, fk_kcu.table_name AS `fk-table-name`, fk_kcu.column_name AS `fk-column-name`, fk_kcu.referenced_table_schema AS `pk-table-schema`, fk_kcu.referenced_table_name AS `pk-table-name`, fk_kcu.referenced_column_name AS `pk-column-name` FROM information_schema.key_column_usage fk_kcu WHERE fk_kcu.referenced_table_name IS NOT NULL AND fk_kcu.table_schema = '{db}' AND fk_kcu.table_name = '{table}' ORDER BY fk_kcu.table_name, fk_kcu.column_name;

-- each
-- columns: count
-- rows: 1
SELECT COUNT(*) AS `count` FROM `{db}`.`{table}`;

-- each
-- columns: {col}
SELECT `{table}`.`{col}` AS `{col}` FROM `{db}`.`{table}` LIMIT 2000;

-- once
-- error: 1146 42S02
SELECT TRUE AS `_` FROM `shop`.`no_such_table` WHERE 1 <> 1 LIMIT 0;
