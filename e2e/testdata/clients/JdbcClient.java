// MariaDB Connector/J against sysemu (run by e2e/clients_test.go): client-
// and server-side prepared statements, the DatabaseMetaData walk BI tools
// (DBeaver, Metabase) do, and JDBC's {call ...} escape.
//
// Usage: java -cp mariadb-java-client.jar:. JdbcClient HOST PORT
import java.sql.*;
import java.util.*;

public class JdbcClient {
    static int checks = 0;

    static void check(boolean cond, String what) {
        if (!cond) {
            System.out.println("FAIL: " + what);
            System.exit(1);
        }
        checks++;
    }

    static List<String> column(ResultSet rs, String name) throws SQLException {
        List<String> out = new ArrayList<>();
        while (rs.next()) out.add(rs.getString(name));
        rs.close();
        return out;
    }

    public static void main(String[] args) throws Exception {
        String base = "jdbc:mariadb://" + args[0] + ":" + args[1] + "/";
        try (Connection c = DriverManager.getConnection(base + "?user=root&password=")) {
            try (Statement s = c.createStatement()) {
                s.execute("CREATE DATABASE jdbc");
                s.execute("CREATE TABLE jdbc.ledger (id INT IDENTITY(1000, 5) PRIMARY KEY, amount INT)");
                s.execute("INSERT INTO jdbc.ledger (amount) VALUES (1), (2)");
                s.execute("CREATE TABLE jdbc.accounts (id BIGINT PRIMARY KEY AUTO_INCREMENT, owner VARCHAR(40) NOT NULL, balance DECIMAL(12,2), opened DATETIME, UNIQUE KEY owner_uk (owner))");
            }
        }
        for (String mode : new String[] {"useServerPrepStmts=false", "useServerPrepStmts=true"}) {
            try (Connection c = DriverManager.getConnection(base + "jdbc?user=root&password=&" + mode)) {
                try (PreparedStatement ps = c.prepareStatement("INSERT INTO accounts (owner, balance, opened) VALUES (?, ?, ?)", Statement.RETURN_GENERATED_KEYS)) {
                    ps.setString(1, "o'" + mode);
                    ps.setBigDecimal(2, new java.math.BigDecimal("10.25"));
                    ps.setTimestamp(3, Timestamp.valueOf("2024-01-02 03:04:05"));
                    check(ps.executeUpdate() == 1, mode + " insert");
                    ResultSet keys = ps.getGeneratedKeys();
                    check(keys.next() && keys.getLong(1) >= 1, mode + " generated key");
                }
                try (PreparedStatement ps = c.prepareStatement("SELECT owner, balance, opened, NULL AS n FROM accounts WHERE owner = ?")) {
                    ps.setString(1, "o'" + mode);
                    ResultSet rs = ps.executeQuery();
                    check(rs.next(), mode + " select row");
                    check(rs.getBigDecimal(2).compareTo(new java.math.BigDecimal("10.25")) == 0, mode + " decimal");
                    check(rs.getTimestamp(3).equals(Timestamp.valueOf("2024-01-02 03:04:05")), mode + " datetime");
                    check(rs.getString(4) == null && !rs.next(), mode + " null and one row");
                    ResultSetMetaData md = rs.getMetaData();
                    check(md.getColumnCount() == 4 && md.getColumnName(1).equals("owner"), mode + " metadata");
                }
                try (PreparedStatement ps = c.prepareStatement("SELECT * FROM missing_table WHERE id = ?")) {
                    ps.setInt(1, 1);
                    ps.executeQuery();
                    check(false, mode + " missing table did not fail");
                } catch (SQLException e) {
                    check(e.getErrorCode() == 1146 && "42S02".equals(e.getSQLState()), mode + " missing table: " + e.getErrorCode() + " " + e.getSQLState());
                }
                try (CallableStatement cs = c.prepareCall("{call checkident(?)}")) {
                    // SQL Server's DBCC CHECKIDENT through JDBC's escape.
                    cs.setString(1, "ledger");
                    check(cs.execute(), mode + " checkident returns a result");
                    ResultSet rs = cs.getResultSet();
                    check(rs.next() && rs.getString(1).contains("current identity value '1005'"), mode + " checkident message");
                }
                try (CallableStatement cs = c.prepareCall("{call recovery_mode(?)}")) {
                    cs.setString(1, "on");
                    cs.execute();
                }
                try (CallableStatement cs = c.prepareCall("{call set_next_table_id(?)}")) {
                    long next;
                    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT next_table_id()")) {
                        rs.next();
                        next = rs.getLong(1);
                    }
                    cs.setLong(1, next + 100);
                    cs.execute();
                    try (Statement s = c.createStatement(); ResultSet rs = s.executeQuery("SELECT next_table_id()")) {
                        check(rs.next() && rs.getLong(1) == next + 100, mode + " {call set_next_table_id(?)}");
                    }
                } finally {
                    try (CallableStatement cs = c.prepareCall("{call recovery_mode(?)}")) {
                        cs.setString(1, "off");
                        cs.execute();
                    }
                }
            }
        }

        try (Connection c = DriverManager.getConnection(base + "jdbc?user=root&password=")) {
            DatabaseMetaData md = c.getMetaData();
            check(md.getDatabaseProductVersion().startsWith("8.0.33"), "product version " + md.getDatabaseProductVersion());
            List<String> catalogs = column(md.getCatalogs(), "TABLE_CAT");
            check(catalogs.contains("jdbc") && catalogs.contains("SYSTEM") && catalogs.contains("information_schema"), "catalogs " + catalogs);
            column(md.getSchemas(), "TABLE_SCHEM");
            List<String> types = column(md.getTableTypes(), "TABLE_TYPE");
            check(types.contains("TABLE"), "table types " + types);
            check(column(md.getTables("jdbc", null, "%", new String[] {"TABLE"}), "TABLE_NAME").equals(List.of("accounts", "ledger")), "user tables");
            List<String> sys = column(md.getTables("SYSTEM", null, "%", null), "TABLE_NAME");
            check(sys.contains("SYS_ID_EVENTS") && sys.size() >= 5, "SYSTEM tables " + sys);
            // GreptimeDB names its information_schema tables in lower case.
            List<String> is = column(md.getTables("information_schema", null, "TABLES", null), "TABLE_NAME");
            check(is.size() == 1 && is.get(0).equalsIgnoreCase("TABLES"), "information_schema.TABLES " + is);
            check(column(md.getTables("jdbc", null, "%", null), "TABLE_TYPE").equals(List.of("TABLE", "TABLE")), "TABLE_TYPE of user tables");
            check(column(md.getTables("information_schema", null, "TABLES", null), "TABLE_TYPE").equals(List.of("SYSTEM VIEW")), "TABLE_TYPE of information_schema.TABLES");

            Map<String, List<String>> targets = new LinkedHashMap<>();
            targets.put("jdbc", List.of("accounts", "ledger"));
            targets.put("information_schema", List.of("TABLES"));
            targets.put("SYSTEM", sys);
            for (Map.Entry<String, List<String>> e : targets.entrySet()) {
                for (String t : e.getValue()) {
                    String where = e.getKey() + "." + t;
                    ResultSet rs = md.getColumns(e.getKey(), null, t, "%");
                    int n = 0;
                    while (rs.next()) {
                        n++;
                        check(rs.getString("COLUMN_NAME") != null && rs.getString("TYPE_NAME") != null && rs.getInt("ORDINAL_POSITION") == n, where + " column " + n);
                        rs.getInt("DATA_TYPE");
                        rs.getString("IS_NULLABLE");
                        rs.getString("IS_AUTOINCREMENT");
                    }
                    rs.close();
                    check(n > 0, where + " has columns");
                    column(md.getPrimaryKeys(e.getKey(), null, t), "COLUMN_NAME");
                    column(md.getIndexInfo(e.getKey(), null, t, false, false), "INDEX_NAME");
                    column(md.getImportedKeys(e.getKey(), null, t), "FKCOLUMN_NAME");
                    column(md.getExportedKeys(e.getKey(), null, t), "FKCOLUMN_NAME");
                }
            }
            check(column(md.getPrimaryKeys("jdbc", null, "accounts"), "COLUMN_NAME").equals(List.of("id")), "primary key of accounts");
            List<String> idx = column(md.getIndexInfo("jdbc", null, "accounts", false, false), "INDEX_NAME");
            check(idx.contains("PRIMARY") && idx.contains("owner_uk"), "indexes of accounts " + idx);
            check(column(md.getIndexInfo("jdbc", null, "accounts", true, false), "INDEX_NAME").size() == 2, "unique indexes");
        }
        System.out.println("OK " + checks + " checks");
    }
}
