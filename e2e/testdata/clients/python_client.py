"""PyMySQL and SQLAlchemy reflection against sysemu (run by e2e/clients_test.go).

Usage: python3 python_client.py HOST PORT
Every SQLAlchemy warning is an error: reflection that cannot parse
SHOW CREATE TABLE drops columns with only a warning.
"""
import sys
import warnings

import pymysql
import sqlalchemy as sa

warnings.simplefilter("error")

host, port = sys.argv[1], int(sys.argv[2])
checks = 0


def check(cond, what):
    global checks
    if not cond:
        sys.exit("FAIL: " + what)
    checks += 1


# PyMySQL: parameters are interpolated by the client.
conn = pymysql.connect(host=host, port=port, user="root", password="", autocommit=True)
with conn.cursor() as cur:
    cur.execute("CREATE DATABASE py")
    cur.execute("CREATE TABLE py.people (id BIGINT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40) NOT NULL DEFAULT '', "
                "age INT, score DECIMAL(6,2), born DATE, note TEXT, UNIQUE KEY name_uk (name), KEY age_idx (age))")
    cur.executemany("INSERT INTO py.people (name, age, score, born) VALUES (%s, %s, %s, %s)",
                    [("ann", 31, "9.50", "1990-01-02"), ("bob's", None, None, None)])
    check(cur.rowcount == 2, "executemany rowcount %r" % cur.rowcount)
    cur.execute("SELECT name, age FROM py.people WHERE name = %s", ("bob's",))
    check(cur.fetchall() == (("bob's", None),), "select bob's")
    try:
        cur.execute("SELECT * FROM py.nope")
        check(False, "missing table did not fail")
    except pymysql.err.ProgrammingError as e:
        check(e.args[0] == 1146, "missing table errno %r" % (e.args,))
    cur.execute("SELECT next_table_id()")
    check(cur.fetchone()[0] >= 1024, "next_table_id")
conn.close()

# SQLAlchemy reflection, as Superset does it.
engine = sa.create_engine("mysql+pymysql://root@%s:%d/py" % (host, port))
insp = sa.inspect(engine)
check("py" in insp.get_schema_names(), "schemas %r" % insp.get_schema_names())
check(insp.get_table_names() == ["people"], "tables %r" % insp.get_table_names())
check(insp.has_table("people") and not insp.has_table("nope"), "has_table")
cols = insp.get_columns("people")
check([c["name"] for c in cols] == ["id", "name", "age", "score", "born", "note"], "columns %r" % cols)
types = {c["name"]: type(c["type"]).__name__ for c in cols}
check(types == {"id": "BIGINT", "name": "VARCHAR", "age": "INTEGER", "score": "DECIMAL", "born": "DATE", "note": "TEXT"},
      "column types %r" % types)
check(cols[0]["autoincrement"] is True and cols[1]["nullable"] is False and cols[2]["nullable"] is True, "column flags %r" % cols)
check(cols[1]["default"] == "''", "name default %r" % cols[1]["default"])
check(insp.get_pk_constraint("people")["constrained_columns"] == ["id"], "pk")
idx = {i["name"]: (i["column_names"], i["unique"]) for i in insp.get_indexes("people")}
check(idx == {"name_uk": (["name"], True), "age_idx": (["age"], False)}, "indexes %r" % idx)
check(insp.get_foreign_keys("people") == [], "foreign keys")
people = sa.Table("people", sa.MetaData(), autoload_with=engine)
check(len(people.columns) == 6, "autoload columns")
with engine.connect() as c:
    rows = c.execute(sa.select(people.c.name).where(people.c.age > sa.bindparam("a")), {"a": 30}).fetchall()
    check([r[0] for r in rows] == ["ann"], "select via autoloaded table %r" % rows)

# Every system table reflects without a warning.
system = sa.inspect(sa.create_engine("mysql+pymysql://root@%s:%d/SYSTEM" % (host, port)))
sys_tables = system.get_table_names()
check(len(sys_tables) >= 5 and "SYS_ID_EVENTS" in sys_tables, "system tables %r" % sys_tables)
for t in sys_tables:
    cols = system.get_columns(t)
    check(len(cols) > 0, "columns of " + t)
    system.get_pk_constraint(t)
    system.get_indexes(t)
    system.get_foreign_keys(t)
    tbl = sa.Table(t, sa.MetaData(), autoload_with=system.bind)
    check(len(tbl.columns) == len(cols), "autoload " + t)
info = sa.inspect(sa.create_engine("mysql+pymysql://root@%s:%d/information_schema" % (host, port)))
check("TABLE_ID" in [c["name"] for c in info.get_columns("TABLES")], "information_schema.TABLES columns")
print("OK %d checks" % checks)
