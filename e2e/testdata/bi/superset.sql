-- once
-- columns: Variable_name, Value
-- rows: 1
SHOW VARIABLES LIKE 'sql_mode';

-- once
-- columns: Variable_name, Value
-- rows: 1
SHOW VARIABLES LIKE 'lower_case_table_names';

-- once
-- columns: DATABASE()
SELECT DATABASE();

-- once
-- columns: @@transaction_isolation
SELECT @@transaction_isolation;

-- once
-- columns: Collation, Charset, Id, Default, Compiled, Sortlen, Pad_attribute
-- rows: 1
show collation where `Charset` = 'utf8mb4' and `Collation` = 'utf8mb4_bin';

-- once
-- columns: anon_1
SELECT CAST('test plain returns' AS CHAR(60)) AS anon_1;

-- once
-- columns: anon_1
SELECT CAST('test collated returns' AS CHAR CHARACTER SET utf8mb4) COLLATE utf8mb4_bin AS anon_1;

-- once
-- columns: Database
SHOW schemas;

-- each
-- columns: Tables_in_{db}, Table_type
-- rows: >=1
SHOW FULL TABLES FROM `{db}`;

-- each
-- columns: Table, Create Table
-- rows: 1
SHOW CREATE TABLE `{db}`.`{table}`;

-- each
-- columns: Field, Type, Null, Key, Default, Extra
-- rows: >=1
DESCRIBE `{db}`.`{table}`;

-- each
-- columns: count
SELECT COUNT(*) AS count FROM `{db}`.`{table}`;

-- each
SELECT * FROM `{db}`.`{table}` LIMIT 100;
