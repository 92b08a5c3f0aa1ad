-- once
-- columns: 1
SELECT 1;

-- once
SET time_zone = '+00:00';

-- once
-- columns: DATABASE()
-- rows: 1
SELECT DATABASE();

-- once
-- columns: Database
-- rows: >=1
SELECT SCHEMA_NAME AS 'Database' FROM INFORMATION_SCHEMA.SCHEMATA WHERE SCHEMA_NAME NOT IN ('information_schema', 'performance_schema', 'sys', 'mysql') ORDER BY SCHEMA_NAME;

-- each
-- columns: TABLE_NAME
-- rows: >=1
SELECT table_name FROM information_schema.tables WHERE table_schema = '{db}' ORDER BY table_name;

-- each
-- columns: COLUMN_NAME, DATA_TYPE
-- rows: >=1
SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = '{db}' AND table_name = '{table}' ORDER BY column_name;

-- each
-- columns: table_name, time_column, value_column
SELECT table_name as table_name, ( SELECT column_name as column_name FROM information_schema.columns c WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.data_type IN ('timestamp', 'datetime') ORDER BY ordinal_position LIMIT 1 ) AS time_column, ( SELECT column_name AS column_name FROM information_schema.columns c WHERE c.table_schema = t.table_schema AND c.table_name = t.table_name AND c.data_type IN('float', 'int', 'bigint') ORDER BY ordinal_position LIMIT 1 ) AS value_column FROM information_schema.tables t WHERE t.table_schema = '{db}' AND t.table_name = '{table}' LIMIT 1;

-- each
-- columns: QUOTE({col})
SELECT DISTINCT QUOTE({col}) FROM `{db}`.`{table}` ORDER BY 1 LIMIT 100;

-- each
-- columns: {col}
SELECT {col} FROM `{db}`.`{table}` LIMIT 50;

-- once
-- error: 1064 42000
SELEC 1;

-- once
-- columns: time, value, metric
SELECT EVENT_TIME AS time, NEW_VALUE AS value, KIND AS metric FROM SYSTEM.SYS_ID_EVENTS WHERE EVENT_TIME BETWEEN FROM_UNIXTIME(1500000000) AND FROM_UNIXTIME(4000000000) ORDER BY EVENT_TIME;
