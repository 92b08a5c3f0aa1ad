// mysql2 against sysemu (run by e2e/clients_test.go): execute() (server-side
// prepared statements), query() (client-side escaping) and prepare() without
// execute, and changeUser() (COM_CHANGE_USER). Usage: node client.js HOST PORT
'use strict';
const mysql = require('mysql2/promise');

let checks = 0;
function check(cond, what) {
  if (!cond) {
    console.log('FAIL: ' + what);
    process.exit(1);
  }
  checks++;
}

async function main() {
  const [host, port] = process.argv.slice(2);
  const c = await mysql.createConnection({ host, port: Number(port), user: 'root', password: '' });
  await c.query('CREATE DATABASE node');
  await c.query('CREATE TABLE node.jobs (id BIGINT PRIMARY KEY AUTO_INCREMENT, name VARCHAR(40), runs INT, at DATETIME)');
  await c.query('USE node');

  const [ins] = await c.execute('INSERT INTO jobs (name, runs, at) VALUES (?, ?, ?)', ["it's", 3, new Date(Date.UTC(2024, 0, 2, 3, 4, 5))]);
  check(ins.affectedRows === 1 && ins.insertId >= 1, 'execute insert ' + JSON.stringify(ins));
  const [ins2] = await c.query('INSERT INTO jobs (name, runs) VALUES (?, ?)', ['b', null]);
  check(ins2.affectedRows === 1 && ins2.insertId === ins.insertId + 1, 'query insert ' + JSON.stringify(ins2));

  const [rows, fields] = await c.execute('SELECT id, name, runs FROM jobs WHERE runs > ? ORDER BY id', [1]);
  check(rows.length === 1 && rows[0].name === "it's" && rows[0].runs === 3, 'execute select ' + JSON.stringify(rows));
  check(fields.map((f) => f.name).join() === 'id,name,runs', 'execute fields');
  // The same statement again reuses the cached server-side statement.
  const [again] = await c.execute('SELECT id, name, runs FROM jobs WHERE runs > ? ORDER BY id', [0]);
  check(again.length === 1, 'execute again');

  const [q] = await c.query('SELECT name, runs FROM jobs WHERE name = ?', ['b']);
  check(q.length === 1 && q[0].runs === null, 'query select ' + JSON.stringify(q));

  // prepare() without execute: the parameter and column counts come back.
  const stmt = await c.prepare('SELECT name FROM jobs WHERE id = ? AND runs > ?');
  const info = stmt.statement;
  check(info.parameters.length === 2 && info.columns.length === 1 && info.columns[0].name === 'name', 'prepare metadata ' + info.parameters.length + ' ' + info.columns.length);
  await stmt.close();

  const [[n]] = await c.execute('SELECT next_table_id() AS n');
  check(Number(n.n) >= 1024, 'next_table_id ' + JSON.stringify(n));

  for (const run of [(sql, p) => c.execute(sql, p), (sql, p) => c.query(sql, p)]) {
    try {
      await run('SELECT * FROM missing WHERE id = ?', [1]);
      check(false, 'missing table did not fail');
    } catch (e) {
      check(e.errno === 1146 && e.sqlState === '42S02', 'missing table ' + e.errno + ' ' + e.sqlState);
    }
  }
  try {
    await c.query('SELEC 1');
    check(false, 'syntax error did not fail');
  } catch (e) {
    check(e.errno === 1064 && e.sqlState === '42000', 'syntax error ' + e.errno + ' ' + e.sqlState);
  }

  // changeUser() (COM_CHANGE_USER): a fresh session as another user, with
  // that user's grants and default database, then on to another user.
  await c.query("CREATE USER 'reader'@'%' IDENTIFIED BY 'r-pass'");
  await c.query("GRANT SELECT ON node.* TO 'reader'@'%'");
  await c.query("CREATE USER 'writer'@'%' IDENTIFIED BY 'w-pass'");
  await c.query("GRANT SELECT, INSERT ON node.* TO 'writer'@'%'");
  await c.query('SET @mark = 1');
  await c.changeUser({ user: 'reader', password: 'r-pass', database: 'node' });
  const [[who]] = await c.query('SELECT CURRENT_USER() AS u, DATABASE() AS d, @mark AS m');
  check(who.u === 'reader@%' && who.d === 'node' && who.m === null, 'changeUser to reader ' + JSON.stringify(who));
  const [[cid]] = await c.query('SELECT CONNECTION_ID() AS id');
  const admin = await mysql.createConnection({ host, port: Number(port), user: 'root', password: '' });
  const [procs] = await admin.query('SHOW PROCESSLIST');
  await admin.end();
  const me = procs.filter((p) => Number(p.Id) === Number(cid.id));
  check(me.length === 1 && me[0].User === 'reader', 'processlist after changeUser ' + JSON.stringify(me));
  const [readable] = await c.query('SELECT COUNT(*) AS n FROM jobs');
  check(Number(readable[0].n) === 2, 'reader reads ' + JSON.stringify(readable));
  try {
    await c.query("INSERT INTO jobs (name) VALUES ('no')");
    check(false, 'reader insert did not fail');
  } catch (e) {
    check(e.errno === 1142, 'reader insert ' + e.errno + ' ' + e.message);
  }
  // (mysql2 sends the previous password and database when none is given, so
  // the way on is to a second user with a password, not back to root.)
  await c.changeUser({ user: 'writer', password: 'w-pass' });
  const [[w]] = await c.query('SELECT CURRENT_USER() AS u, DATABASE() AS d');
  check(w.u === 'writer@%' && w.d === 'node', 'changeUser to writer ' + JSON.stringify(w));
  const [wins] = await c.query("INSERT INTO node.jobs (name) VALUES ('yes')");
  check(wins.affectedRows === 1, 'writer insert ' + JSON.stringify(wins));
  await c.end();

  // A wrong password is refused with 1045 and ends the connection.
  const bad = await mysql.createConnection({ host, port: Number(port), user: 'root', password: '' });
  try {
    await bad.changeUser({ user: 'reader', password: 'wrong' });
    check(false, 'changeUser with a wrong password did not fail');
  } catch (e) {
    check(e.errno === 1045, 'changeUser wrong password ' + e.errno + ' ' + e.message);
  }
  try {
    await bad.query('SELECT 1');
    check(false, 'connection still usable after a failed changeUser');
  } catch (e) {
    check(true, 'closed');
  }
  bad.destroy();

  console.log('OK ' + checks + ' checks');
}

main().catch((e) => {
  console.log('FAIL: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
