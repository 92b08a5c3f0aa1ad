package server

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dolthub/go-mysql-server/sql"
	"github.com/dolthub/go-mysql-server/sql/mysql_db"
	"github.com/dolthub/go-mysql-server/sql/plan"
	"github.com/dolthub/vitess/go/mysql"
	"github.com/dolthub/vitess/go/vt/sqlparser"

	"github.com/sysemu/sysemu/engine"
	"github.com/sysemu/sysemu/seed"
	"github.com/sysemu/sysemu/systables"
)

// userDatabase is a database users create. Besides its own tables it
// resolves the SYSTEM tables unqualified, as the seed documents query them.
type userDatabase struct {
	noObjects
	s    *Server
	name string
}

var (
	_ sql.Database            = (*userDatabase)(nil)
	_ sql.TableCreator        = (*userDatabase)(nil)
	_ sql.IndexedTableCreator = (*userDatabase)(nil)
	_ sql.TableDropper        = (*userDatabase)(nil)
	_ sql.TableRenamer        = (*userDatabase)(nil)
)

func (d *userDatabase) Name() string { return d.name }

func (d *userDatabase) GetTableInsensitive(ctx *sql.Context, name string) (sql.Table, bool, error) {
	t := d.s.eng.State().Table(d.name, name)
	if t == nil {
		t = sessionOf(ctx).listedTable(ctx, d.name, name)
	}
	if t != nil {
		tbl, err := d.s.userTable(ctx, t)
		return tbl, err == nil, err
	}
	if def := systables.Lookup(name); def != nil {
		return systables.New(def, d.s.eng, seed.SystemDatabase), true, nil
	}
	return nil, false, nil
}

// GetTableNames lists the tables of one State, which the statement keeps:
// go-mysql-server looks each listed name up again (TRUNCATE's foreign-key
// check, information_schema) and fails with 1146 naming another table if
// a concurrent DROP came in between.
func (d *userDatabase) GetTableNames(ctx *sql.Context) ([]string, error) {
	st := d.s.eng.State()
	sessionOf(ctx).listed = listedState{pid: ctx.Pid(), state: st}
	var names []string
	for _, t := range st.Tables(d.name) {
		names = append(names, t.Name)
	}
	return names, nil
}

func (d *userDatabase) CreateTable(ctx *sql.Context, name string, sch sql.PrimaryKeySchema, coll sql.CollationID, comment string) error {
	return d.create(ctx, name, sch, coll, comment)
}

func (d *userDatabase) CreateIndexedTable(ctx *sql.Context, name string, sch sql.PrimaryKeySchema, _ sql.IndexDef, coll sql.CollationID, comment string) error {
	return d.create(ctx, name, sch, coll, comment)
}

// create writes the table, its indexes, options and partition clause in one
// engine transaction.
func (d *userDatabase) create(ctx *sql.Context, name string, sch sql.PrimaryKeySchema, coll sql.CollationID, comment string) error {
	spec := engine.TableSpec{Database: d.name, Name: name, Comment: comment}
	if coll != sql.Collation_Unspecified {
		spec.Collation = coll.Name()
	}
	for _, c := range sch.Schema {
		spec.Columns = append(spec.Columns, columnSpec(c))
	}
	for _, i := range sch.PkOrdinals {
		spec.PrimaryKey = append(spec.PrimaryKey, sch.Schema[i].Name)
	}
	sess := sessionOf(ctx)
	var autoIncrement uint64
	if n := sess.creating; n != nil && strings.EqualFold(n.Name(), name) {
		for _, def := range n.Indexes() {
			if !def.IsPrimary() && !def.IsFullText() && !def.IsSpatial() && !def.IsVector() && def.Name != "" {
				spec.Indexes = append(spec.Indexes, indexSpec(*def))
			}
		}
		if v, ok := n.TableOpts["auto_increment"].(uint64); ok {
			autoIncrement = v
		}
		sess.creating = nil
	}
	if err := identitySpec(ctx, &spec, autoIncrement); err != nil {
		return err
	}
	p, err := d.partition(ctx)
	if err != nil {
		return err
	}
	spec.Partition = p
	t, err := d.s.eng.CreateTable(ctx, spec)
	if err == nil {
		// go-mysql-server looks the new table up right after: a concurrent
		// DROP in between must not turn the CREATE into an error.
		sess.listed = listedState{pid: ctx.Pid(), created: t}
	}
	if errors.Is(err, engine.ErrTableExists) {
		// go-mysql-server's kind, so CREATE TABLE IF NOT EXISTS succeeds.
		return sql.ErrTableAlreadyExists.New(name)
	}
	return toSQLError(err)
}

// partition re-parses the statement for its partition clause, which the
// planner drops. CREATE TABLE ... LIKE copies the source's clause.
func (d *userDatabase) partition(ctx *sql.Context) (*engine.Partition, error) {
	if q := strings.ToLower(ctx.Query()); !strings.Contains(q, "partition") && !strings.Contains(q, "like") {
		return nil, nil // nothing to find: spare the second parse
	}
	stmt, _, err := sqlparser.ParseOne(ctx, ctx.Query())
	if err != nil {
		return nil, nil // not a plain CREATE TABLE statement (e.g. a script)
	}
	ddl, ok := stmt.(*sqlparser.DDL)
	if !ok {
		return nil, nil
	}
	if ddl.OptLike != nil && len(ddl.OptLike.LikeTables) > 0 {
		src := ddl.OptLike.LikeTables[0]
		db := src.DbQualifier.String()
		if db == "" {
			db = d.name
		}
		if t := d.s.eng.State().Table(db, src.Name.String()); t != nil {
			return t.Partition, nil
		}
		return nil, nil
	}
	if ddl.TableSpec == nil || ddl.TableSpec.PartitionOpt == nil {
		return nil, nil
	}
	return partitionSpec(ddl.TableSpec.PartitionOpt)
}

// maxPartitions is MySQL 8.0's limit on a table's partitions.
const maxPartitions = 8192

func partitionSpec(o *sqlparser.PartitionOption) (*engine.Partition, error) {
	p := &engine.Partition{Type: strings.ToUpper(o.PartitionType), Linear: o.IsLinear, Count: 1}
	for _, c := range o.ColList {
		p.Columns = append(p.Columns, c.String())
	}
	if col, ok := o.Expr.(*sqlparser.ColName); ok {
		p.Expr = "`" + col.Name.String() + "`"
	} else if o.Expr != nil {
		p.Expr = sqlparser.String(o.Expr)
	}
	if o.Partitions != nil {
		if _, err := fmt.Sscan(string(o.Partitions.Val), &p.Count); err != nil || p.Count < 1 {
			return nil, mysql.NewSQLError(erNoParts, "HY000", "Number of partitions = 0 is not an allowed value")
		}
	}
	for _, def := range o.Definitions {
		pd := engine.PartitionDef{Name: def.Name.String()}
		if def.Maxvalue {
			pd.Values = "MAXVALUE"
		} else if def.Limit != nil {
			pd.Values = "(" + sqlparser.String(def.Limit) + ")"
		}
		p.Definitions = append(p.Definitions, pd)
	}
	if len(p.Definitions) > 0 {
		p.Count = len(p.Definitions)
	}
	if p.Count > maxPartitions {
		return nil, mysql.NewSQLError(erTooManyPartitions, "HY000", "Too many partitions (including subpartitions) were defined")
	}
	p.Clause = renderPartition(p)
	return p, nil
}

// renderPartition renders the clause as MySQL 8.0's SHOW CREATE TABLE does.
func renderPartition(p *engine.Partition) string {
	var b strings.Builder
	b.WriteString("/*!50100 PARTITION BY ")
	if p.Linear {
		b.WriteString("LINEAR ")
	}
	b.WriteString(p.Type)
	if len(p.Columns) > 0 {
		quoted := make([]string, len(p.Columns))
		for i, c := range p.Columns {
			quoted[i] = "`" + c + "`"
		}
		b.WriteString(" (" + strings.Join(quoted, ",") + ")")
	} else if p.Expr != "" {
		b.WriteString(" (" + p.Expr + ")")
	} else if p.Type == "KEY" {
		b.WriteString(" ()")
	}
	if len(p.Definitions) == 0 {
		fmt.Fprintf(&b, "\nPARTITIONS %d */", p.Count)
		return b.String()
	}
	b.WriteString("\n(")
	for i, d := range p.Definitions {
		if i > 0 {
			b.WriteString(",\n ")
		}
		b.WriteString("PARTITION " + d.Name)
		if d.Values != "" {
			b.WriteString(" VALUES LESS THAN " + d.Values)
		}
		b.WriteString(" ENGINE = InnoDB")
	}
	b.WriteString(") */")
	return b.String()
}

func (d *userDatabase) DropTable(ctx *sql.Context, name string) error {
	sessionOf(ctx).listed = listedState{} // the statement's own DDL is seen at once
	return toSQLError(d.s.eng.DropTable(ctx, d.name, name))
}

func (d *userDatabase) RenameTable(ctx *sql.Context, from, to string) error {
	sessionOf(ctx).listed = listedState{}
	return toSQLError(d.s.eng.RenameTable(ctx, d.name, from, d.name, to))
}

// systemDatabase is the read-only SYSTEM database of SYS_* tables.
type systemDatabase struct {
	noObjects
	s *Server
}

var _ sql.ReadOnlyDatabase = (*systemDatabase)(nil)

func (d *systemDatabase) Name() string     { return seed.SystemDatabase }
func (d *systemDatabase) IsReadOnly() bool { return true }

func (d *systemDatabase) GetTableInsensitive(_ *sql.Context, name string) (sql.Table, bool, error) {
	if def := systables.Lookup(name); def != nil {
		return systables.New(def, d.s.eng, seed.SystemDatabase), true, nil
	}
	return nil, false, nil
}

func (d *systemDatabase) GetTableNames(*sql.Context) ([]string, error) {
	var names []string
	for _, def := range systables.SystemTables {
		names = append(names, def.Name)
	}
	return names, nil
}

// provider lists the SYSTEM database and the user databases; go-mysql-server
// adds information_schema and mysql itself.
type provider struct{ s *Server }

var (
	_ sql.MutableDatabaseProvider         = (*provider)(nil)
	_ sql.CollatedDatabaseProvider        = (*provider)(nil)
	_ sql.ExternalStoredProcedureProvider = (*provider)(nil)
)

func (p *provider) Database(_ *sql.Context, name string) (sql.Database, error) {
	if strings.EqualFold(name, seed.SystemDatabase) {
		return &systemDatabase{s: p.s}, nil
	}
	d := p.s.eng.State().Database(name)
	if d == nil || d.System {
		return nil, sql.ErrDatabaseNotFound.New(name)
	}
	return &userDatabase{s: p.s, name: d.Name}, nil
}

func (p *provider) HasDatabase(ctx *sql.Context, name string) bool {
	_, err := p.Database(ctx, name)
	return err == nil
}

func (p *provider) AllDatabases(*sql.Context) []sql.Database {
	out := []sql.Database{&systemDatabase{s: p.s}}
	for _, d := range p.s.eng.State().Databases() {
		if !d.System {
			out = append(out, &userDatabase{s: p.s, name: d.Name})
		}
	}
	sort.Slice(out, func(i, j int) bool { return strings.ToLower(out[i].Name()) < strings.ToLower(out[j].Name()) })
	return out
}

func (p *provider) CreateDatabase(ctx *sql.Context, name string) error {
	return p.CreateCollatedDatabase(ctx, name, sql.Collation_Unspecified)
}

func (p *provider) CreateCollatedDatabase(ctx *sql.Context, name string, coll sql.CollationID) error {
	c := ""
	if coll != sql.Collation_Unspecified {
		c = coll.Name()
	}
	if strings.EqualFold(name, seed.SystemDatabase) || strings.EqualFold(name, "information_schema") || strings.EqualFold(name, "mysql") {
		return toSQLError(fmt.Errorf("%w: %s", engine.ErrDatabaseExists, name))
	}
	_, err := p.s.eng.CreateDatabase(ctx, name, c)
	return toSQLError(err)
}

func (p *provider) DropDatabase(ctx *sql.Context, name string) error {
	return toSQLError(p.s.eng.DropDatabase(ctx, name))
}

// ExternalStoredProcedure picks the overload of name that takes n
// arguments. A count no overload takes is MySQL's 1318 (go-mysql-server's
// registry answers it with an empty procedure, which panics when the only
// overload takes no arguments, and with a generic 1105 otherwise).
func (p *provider) ExternalStoredProcedure(_ *sql.Context, name string, n int) (*sql.ExternalStoredProcedureDetails, error) {
	variants, err := p.s.procs.LookupByName(name)
	if err != nil || len(variants) == 0 {
		return nil, err
	}
	var want []string
	var variadic *sql.ExternalStoredProcedureDetails
	for i := range variants {
		t := reflect.TypeOf(variants[i].Function)
		fixed := t.NumIn() - 1 // the *sql.Context is not an argument
		switch {
		case t.IsVariadic() && n >= fixed-1:
			variadic = &variants[i]
		case t.IsVariadic():
			want = append(want, fmt.Sprintf("at least %d", fixed-1))
		case n == fixed:
			return &variants[i], nil // an exact overload wins
		default:
			want = append(want, strconv.Itoa(fixed))
		}
	}
	if variadic != nil {
		return variadic, nil
	}
	sort.Strings(want)
	return nil, mysql.NewSQLError(erSPWrongArgs, "42000", "Incorrect number of arguments for PROCEDURE %s; expected %s, got %d", strings.ToLower(name), strings.Join(want, " or "), n)
}

func (p *provider) ExternalStoredProcedures(_ *sql.Context, name string) ([]sql.ExternalStoredProcedureDetails, error) {
	return p.s.procs.LookupByName(name)
}

// unwrap returns the database behind go-mysql-server's privilege wrapper.
func unwrap(db sql.Database) sql.Database {
	if p, ok := db.(mysql_db.PrivilegedDatabase); ok {
		return p.Unwrap()
	}
	return db
}

// rememberCreate is the CREATE TABLE hook: it hands the plan to the
// database's CreateTable so indexes and options are written with the table.
func rememberCreate(ctx *sql.Context, _ sql.StatementRunner, n sql.Node) (sql.Node, error) {
	if ct, ok := n.(*plan.CreateTable); ok {
		sessionOf(ctx).creating = ct
	}
	return n, nil
}

// noObjects gives a database empty lists of views, triggers, stored
// procedures and events, and refuses to create them with MySQL's 1235:
// sysemu does not store them yet.
type noObjects struct{}

func (noObjects) CreateView(*sql.Context, string, string, string) error {
	return errNotSupported("CREATE VIEW")
}
func (noObjects) DropView(*sql.Context, string) error { return errNotSupported("DROP VIEW") }
func (noObjects) GetViewDefinition(*sql.Context, string) (sql.ViewDefinition, bool, error) {
	return sql.ViewDefinition{}, false, nil
}
func (noObjects) AllViews(*sql.Context) ([]sql.ViewDefinition, error)       { return nil, nil }
func (noObjects) GetTriggers(*sql.Context) ([]sql.TriggerDefinition, error) { return nil, nil }
func (noObjects) CreateTrigger(*sql.Context, sql.TriggerDefinition) error {
	return errNotSupported("CREATE TRIGGER")
}
func (noObjects) DropTrigger(*sql.Context, string) error { return errNotSupported("DROP TRIGGER") }
func (noObjects) GetStoredProcedure(*sql.Context, string) (sql.StoredProcedureDetails, bool, error) {
	return sql.StoredProcedureDetails{}, false, nil
}
func (noObjects) GetStoredProcedures(*sql.Context) ([]sql.StoredProcedureDetails, error) {
	return nil, nil
}
func (noObjects) SaveStoredProcedure(*sql.Context, sql.StoredProcedureDetails) error {
	return errNotSupported("CREATE PROCEDURE")
}
func (noObjects) DropStoredProcedure(*sql.Context, string) error {
	return errNotSupported("DROP PROCEDURE")
}
func (noObjects) GetEvent(*sql.Context, string) (sql.EventDefinition, bool, error) {
	return sql.EventDefinition{}, false, nil
}
func (noObjects) GetEvents(*sql.Context) ([]sql.EventDefinition, any, error) { return nil, nil, nil }
func (noObjects) SaveEvent(*sql.Context, sql.EventDefinition) (bool, error) {
	return false, errNotSupported("CREATE EVENT")
}
func (noObjects) DropEvent(*sql.Context, string) error { return errNotSupported("DROP EVENT") }
func (noObjects) UpdateEvent(*sql.Context, string, sql.EventDefinition) (bool, error) {
	return false, errNotSupported("ALTER EVENT")
}
func (noObjects) UpdateLastExecuted(*sql.Context, string, time.Time) error { return nil }
func (noObjects) NeedsToReloadEvents(*sql.Context, any) (bool, error)      { return false, nil }

var (
	_ sql.ViewDatabase            = (*userDatabase)(nil)
	_ sql.TriggerDatabase         = (*userDatabase)(nil)
	_ sql.StoredProcedureDatabase = (*userDatabase)(nil)
	_ sql.EventDatabase           = (*userDatabase)(nil)
	_ sql.TriggerDatabase         = (*systemDatabase)(nil)
)
