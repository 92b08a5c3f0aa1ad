-- once
-- columns: Engine, Support, Comment, Transactions, XA, Savepoints
-- rows: >=1
SHOW ENGINES;

-- once
-- columns: Charset, Description, Default collation, Maxlen
-- rows: >=1
SHOW CHARSET;

-- once
-- columns: Collation, Charset, Id, Default, Compiled, Sortlen, Pad_attribute
-- rows: >=1
SHOW COLLATION;

-- once
-- columns: Variable_name, Value
-- rows: 1
SHOW VARIABLES LIKE 'lower_case_table_names';

-- once
-- columns: @@GLOBAL.character_set_server, @@GLOBAL.collation_server
SELECT @@GLOBAL.character_set_server, @@GLOBAL.collation_server;

-- once
-- columns: Database
-- rows: >=2
SHOW DATABASES;

-- once
-- rows: >=2
SELECT * FROM information_schema.SCHEMATA;

-- once
-- columns: Id, User, Host, db, Command, Time, State, Info
-- rows: >=1
SHOW FULL PROCESSLIST;

-- each
-- columns: Tables_in_{db}, Table_type
-- rows: >=1
SHOW FULL TABLES FROM `{db}`;

-- each
-- columns: Name, Engine, Version, Row_format, Rows, Avg_row_length, Data_length, Max_data_length, Index_length, Data_free, Auto_increment, Create_time, Update_time, Check_time, Collation, Checksum, Create_options, Comment
-- rows: >=1
SHOW TABLE STATUS FROM `{db}` LIKE '{table}';

-- each
-- rows: >=1
SELECT * FROM information_schema.COLUMNS WHERE TABLE_SCHEMA='{db}' AND TABLE_NAME='{table}' ORDER BY ORDINAL_POSITION;

-- each
SELECT * FROM information_schema.STATISTICS WHERE TABLE_SCHEMA='{db}' AND TABLE_NAME='{table}' ORDER BY INDEX_NAME,SEQ_IN_INDEX;

-- each
-- columns: CONSTRAINT_NAME, TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION
SELECT kc.CONSTRAINT_NAME,kc.TABLE_NAME,kc.COLUMN_NAME,kc.ORDINAL_POSITION FROM information_schema.KEY_COLUMN_USAGE kc WHERE kc.TABLE_SCHEMA='{db}' AND kc.REFERENCED_TABLE_NAME IS NULL AND kc.TABLE_NAME='{table}' ORDER BY kc.CONSTRAINT_NAME,kc.ORDINAL_POSITION;

-- each
SELECT * FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA='{db}' AND TABLE_NAME='{table}';

-- each
SELECT * FROM information_schema.TABLE_CONSTRAINTS WHERE TABLE_SCHEMA='{db}' AND TABLE_NAME='{table}';

-- each
SELECT * FROM information_schema.PARTITIONS WHERE TABLE_SCHEMA='{db}' AND TABLE_NAME='{table}' ORDER BY PARTITION_ORDINAL_POSITION,SUBPARTITION_ORDINAL_POSITION;

-- each
SELECT * FROM information_schema.TRIGGERS WHERE EVENT_OBJECT_SCHEMA='{db}' AND EVENT_OBJECT_TABLE='{table}';

-- each
SELECT * FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='{db}' ORDER BY ROUTINE_NAME;

-- each
SELECT * FROM information_schema.CHECK_CONSTRAINTS WHERE CONSTRAINT_SCHEMA='{db}';

-- each
-- columns: Table, Create Table
-- rows: 1
SHOW CREATE TABLE `{db}`.`{table}`;

-- each
-- columns: Table, Non_unique, Key_name, Seq_in_index, Column_name, Collation, Cardinality, Sub_part, Packed, Null, Index_type, Comment, Index_comment, Visible, Expression
SHOW INDEX FROM `{table}` FROM `{db}`;

-- each
SELECT * FROM `{db}`.`{table}` LIMIT 0, 200;

-- each
-- rows: 1
SELECT COUNT(*) FROM `{db}`.`{table}`;
