// A BI tool's view of the published snapshot, through the DuckDB JDBC driver (the one DBeaver and
// Metabase's DuckDB driver load). Run as a single-file program, compiled when it starts:
//
//   java -cp .cache/bi-jdbc/duckdb_jdbc-1.4.4.0.jar bi/ReadSnapshot.java once  $CXPULSE_HOME/published/cx.duckdb
//   java -cp .cache/bi-jdbc/duckdb_jdbc-1.4.4.0.jar bi/ReadSnapshot.java loop  $CXPULSE_HOME/published/cx.duckdb STOPFILE
//
// `once` opens the file read-only, lists its schemas, reads every row and column of every table of the
// `marts` schema and checks that a write is refused. `loop` opens, reads and closes the file again and
// again, as a dashboard refreshing, until STOPFILE exists; one line per snapshot read, one `error` line
// per failure. tests/warehouse/test_bi_jdbc.py reads these lines.

import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;

public class ReadSnapshot {
    static Connection open(String path) throws SQLException {
        Properties props = new Properties();
        props.setProperty("duckdb.read_only", "true");
        return DriverManager.getConnection("jdbc:duckdb:" + path, props);
    }

    static List<String> strings(Connection con, String sql) throws SQLException {
        List<String> out = new ArrayList<>();
        try (Statement st = con.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            while (rs.next()) {
                out.add(rs.getString(1));
            }
        }
        return out;
    }

    /** Reads every row and every column (getObject decodes each value) and returns the row count. */
    static long readAll(Connection con, String table) throws SQLException {
        long rows = 0;
        try (Statement st = con.createStatement();
             ResultSet rs = st.executeQuery("select * from marts.\"" + table + "\"")) {
            int columns = rs.getMetaData().getColumnCount();
            while (rs.next()) {
                for (int i = 1; i <= columns; i++) {
                    rs.getObject(i);
                }
                rows++;
            }
        }
        return rows;
    }

    static List<String> marts(Connection con) throws SQLException {
        return strings(con, "select table_name from information_schema.tables "
                + "where table_schema = 'marts' order by table_name");
    }

    static void once(String path) throws SQLException {
        try (Connection con = open(path)) {
            System.out.println("duckdb " + strings(con, "select version()").get(0));
            System.out.println("schemas " + String.join(",", strings(con,
                    "select distinct schema_name from information_schema.schemata "
                    + "where catalog_name = current_database() order by 1")));
            for (String table : marts(con)) {
                int columns;
                try (Statement st = con.createStatement();
                     ResultSet rs = st.executeQuery("select * from marts.\"" + table + "\" limit 0")) {
                    columns = rs.getMetaData().getColumnCount();
                }
                System.out.println("table " + table + " rows=" + readAll(con, table) + " columns=" + columns);
            }
            try (Statement st = con.createStatement()) {
                st.execute("create table marts.written_by_bi as select 1 as x");
                System.out.println("write accepted");
            } catch (SQLException refused) {
                System.out.println("write refused");
            }
        }
    }

    static void loop(String path, Path stop) throws Exception {
        while (!Files.exists(stop)) {
            if (!Files.exists(Path.of(path))) {
                Thread.sleep(20);
                continue;
            }
            try (Connection con = open(path);
                 Statement st = con.createStatement();
                 ResultSet rs = st.executeQuery(
                         "select sum(offered) filter (where channel = 'all' and queue = 'all'), "
                         + "sum(offered) filter (where channel <> 'all' and queue = 'all') "
                         + "from marts.kpi_service_daily")) {
                rs.next();
                long total = rs.getLong(1);
                long byChannel = rs.getLong(2);
                long rows = 0;
                for (String table : marts(con)) {
                    rows += readAll(con, table);
                }
                System.out.println("snapshot offered=" + total + " by_channel=" + byChannel + " rows=" + rows);
            } catch (SQLException e) {
                System.out.println("error " + e.getClass().getSimpleName() + ": " + e.getMessage().replace('\n', ' '));
            }
            System.out.flush();
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length >= 2 && args[0].equals("once")) {
            once(args[1]);
        } else if (args.length >= 3 && args[0].equals("loop")) {
            loop(args[1], Path.of(args[2]));
        } else {
            System.err.println("usage: ReadSnapshot once FILE | loop FILE STOPFILE");
            System.exit(2);
        }
    }
}
