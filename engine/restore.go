package engine

import (
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sysemu/sysemu/engine/store"
)

// Restore is TiDB BR's snapshot restore with checkpoints
// (br/pkg/checkpoint, docs br-checkpoint-restore.md):
//
//  1. PreallocIDs over the backup's table IDs, the table-ID sequence advanced
//     in the same transaction that records the restore and the table-ID map;
//  2. the tables created (skipped when they exist with the mapped ID) in one
//     transaction that also records the partition and index maps — all
//     before any row is written;
//  3. ranges restored by several workers, each range one transaction whose
//     writes are idempotent (same key, same value);
//  4. completed ranges recorded under their downstream table ID, flushed
//     every interval and at every exit;
//  5. a retry skips the ranges recorded under the same downstream table ID.
//
// Restore records, ID maps and checkpoints live under their own prefix:
// neither metadata (a metadata snapshot restore leaves them) nor data.
var (
	restorePrefix    = []byte("r/rec/")
	idMapPrefix      = []byte("r/map/")
	checkpointPrefix = []byte("r/cp/")
)

// Restore statuses.
const (
	RestoreRunning  = "running"
	RestoreFinished = "finished"
)

// ID map kinds.
const (
	MapTable     = "table"
	MapPartition = "partition"
	MapIndex     = "index"
)

// DefaultCheckpointInterval is BR's defaultTickDurationForFlush.
const DefaultCheckpointInterval = 30 * time.Second

// RestoreRecord is one restore: BR's CheckpointMetadataForSnapshotRestore.
type RestoreRecord struct {
	ID        uint64      `json:"restore-id"`
	Dir       string      `json:"dir"`
	ClusterID uint64      `json:"upstream-cluster-id"`
	BackupTS  uint64      `json:"restored-ts"`
	Prealloc  PreallocIDs `json:"prealloc-ids"`
	Databases []string    `json:"databases,omitempty"`
	Status    string      `json:"status"`
	Started   time.Time   `json:"started"`
	Finished  time.Time   `json:"finished,omitzero"`
	Ranges    int         `json:"ranges"`
}

// IDMapEntry is one upstream→downstream ID (SYS_ID_MAP).
type IDMapEntry struct {
	RestoreID  uint64 `json:"restore-id"`
	Kind       string `json:"kind"`
	Upstream   uint64 `json:"upstream"`
	Downstream uint64 `json:"downstream"`
	Name       string `json:"name"`
}

// RestoreCheckpoint is one completed range (SYS_RESTORE_CHECKPOINTS).
type RestoreCheckpoint struct {
	RestoreID uint64    `json:"-"`
	TableID   uint64    `json:"-"`
	Range     int       `json:"-"`
	Rows      uint64    `json:"rows"`
	Status    string    `json:"status"`
	Time      time.Time `json:"time"`
}

// RestoreOptions configure a restore.
type RestoreOptions struct {
	// Databases restricts the restore to these databases (empty: all).
	Databases []string
	// Concurrency is the number of ranges restored at once (default 4).
	Concurrency int
	// CheckpointInterval is how often completed ranges are flushed
	// (default DefaultCheckpointInterval).
	CheckpointInterval time.Duration
}

// RestoreResult is what a finished restore reports.
type RestoreResult struct {
	RestoreID    uint64
	Tables       int
	Ranges       int
	Skipped      int // ranges found in the checkpoint
	Rows         uint64
	Elapsed      time.Duration
	IDMap        []IDMapEntry
	Resumed      bool
	RestoredRows uint64 // rows written by this run (skipped ranges excluded)
}

// RestoreProgress is a restore's progress (SYS_RESTORE_PROGRESS).
type RestoreProgress struct {
	RestoreID   uint64
	Dir         string
	Status      string
	RangesDone  int
	RangesTotal int
	Rows        uint64 // rows restored by this run
	RowsTotal   uint64
	Started     time.Time
	Updated     time.Time
	Rate        float64 // rows per second of this run
	ETA         time.Duration
}

type restoreRun struct {
	mu sync.Mutex
	p  RestoreProgress
}

func restoreKey(id uint64) []byte { return idKey(restorePrefix, id) }

func idMapKey(rid uint64, kind string, up uint64) []byte {
	k := idKey(idMapPrefix, rid)
	k = append(k, kind...)
	k = append(k, '/')
	return binary.BigEndian.AppendUint64(k, up)
}

func checkpointKey(rid, table uint64, rng int) []byte {
	k := binary.BigEndian.AppendUint64(idKey(checkpointPrefix, rid), table)
	return binary.BigEndian.AppendUint32(k, uint32(rng))
}

// restoreTarget is one table being restored: the backup's entry and the
// downstream table.
type restoreTarget struct {
	bt   *BackupTable
	down *Table
	done map[int]bool
}

// Restore restores the backup in dir (see the comment at the top).
func (e *Engine) Restore(ctx context.Context, a Actor, dir string, opts RestoreOptions) (*RestoreResult, error) {
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	dir = filepath.Clean(dir)
	m, err := ReadManifest(dir)
	if err != nil {
		return nil, err
	}
	if m.Profile != e.State().Profile.Name {
		return nil, fmt.Errorf("%w: backup of profile %q, server runs %q", ErrBadBackup, m.Profile, e.State().Profile.Name)
	}
	tables, err := selectTables(m, opts.Databases)
	if err != nil {
		return nil, err
	}
	if !e.restoreMu.TryLock() {
		return nil, fmt.Errorf("%w: another restore is running on this server", ErrRestoreRunning)
	}
	defer e.restoreMu.Unlock()
	started := e.now()

	rec, resumed, err := e.restoreBegin(ctx, a, dir, m, tables, opts.Databases)
	if err != nil {
		return nil, err
	}
	targets, err := e.restoreCreateTables(ctx, rec, m, tables)
	if err != nil {
		return nil, err
	}
	if err := e.loadCheckpoints(ctx, rec.ID, targets); err != nil {
		return nil, err
	}
	res := &RestoreResult{RestoreID: rec.ID, Tables: len(targets), Resumed: resumed}
	run := &restoreRun{p: RestoreProgress{RestoreID: rec.ID, Dir: dir, Status: RestoreRunning, Started: started.UTC()}}
	for _, t := range targets {
		res.Ranges += len(t.bt.Ranges)
		res.Skipped += len(t.done)
		res.Rows += t.bt.Rows
		run.p.RowsTotal += t.bt.Rows
	}
	run.p.RangesTotal, run.p.RangesDone = res.Ranges, res.Skipped
	e.setRestoring(run, targets)
	defer e.setRestoring(nil, targets)

	if err := e.restoreRanges(ctx, rec.ID, dir, targets, opts, run); err != nil {
		run.finish("failed")
		return nil, err
	}
	for _, t := range targets {
		if err := e.finishTable(ctx, t); err != nil {
			run.finish("failed")
			return nil, err
		}
	}
	err = e.st.Update(ctx, func(tx store.Tx) error {
		rec.Status, rec.Finished = RestoreFinished, e.now().UTC()
		return putJSON(tx, restoreKey(rec.ID), rec)
	})
	if err != nil {
		run.finish("failed")
		return nil, err
	}
	run.finish(RestoreFinished)
	res.IDMap, err = e.IDMap(ctx, rec.ID)
	res.Elapsed = e.now().Sub(started)
	run.mu.Lock()
	res.RestoredRows = run.p.Rows
	run.mu.Unlock()
	return res, err
}

func (r *restoreRun) finish(status string) {
	r.mu.Lock()
	r.p.Status, r.p.Updated, r.p.ETA = status, time.Now().UTC(), 0
	r.mu.Unlock()
}

func selectTables(m *BackupManifest, dbs []string) ([]*BackupTable, error) {
	if len(dbs) == 0 {
		return m.Tables, nil
	}
	want := map[string]bool{}
	for _, d := range dbs {
		found := false
		for _, bd := range m.Databases {
			found = found || strings.EqualFold(bd.Name, d)
		}
		if !found {
			return nil, fmt.Errorf("%w: database %s is not in the backup", ErrBadBackup, d)
		}
		want[strings.ToLower(d)] = true
	}
	var out []*BackupTable
	for _, t := range m.Tables {
		if want[strings.ToLower(t.Database)] {
			out = append(out, t)
		}
	}
	return out, nil
}

// restoreBegin finds the unfinished restore of dir and reuses its
// preallocation, or preallocates the IDs, advances the table-ID sequence
// and records the restore and its table-ID map, in one transaction.
func (e *Engine) restoreBegin(ctx context.Context, a Actor, dir string, m *BackupManifest, tables []*BackupTable, dbs []string) (*RestoreRecord, bool, error) {
	ids := make([]uint64, len(tables))
	for i, t := range tables {
		ids[i] = t.TableID
	}
	var rec *RestoreRecord
	resumed := false
	err := e.update(ctx, func(c *change) error {
		rec, resumed = nil, false
		if err := c.ddlAllowed(); err != nil {
			return err
		}
		var last uint64
		err := scanJSON(c.tx, restorePrefix, func(r *RestoreRecord) {
			last = r.ID
			if r.Status != RestoreFinished && r.Dir == dir {
				rec = r
			}
		})
		if err != nil {
			return err
		}
		p := NewPreallocIDs(ids)
		if rec != nil {
			if rec.ClusterID != m.ClusterID || rec.BackupTS != m.BackupTS {
				return fmt.Errorf("%w: the checkpoint of restore %d is for upstream cluster %d backup-ts %d, the backup in %s is cluster %d backup-ts %d",
					ErrRestoreCheckpoint, rec.ID, rec.ClusterID, rec.BackupTS, dir, m.ClusterID, m.BackupTS)
			}
			if err := p.Reuse(rec.Prealloc); err != nil {
				return err
			}
			if _, err := p.Map(); err != nil {
				return err
			}
			resumed = true
			return nil
		}
		seq := e.seqs[SeqTableID]
		start, err := seq.peek(c.tx)
		if err != nil {
			return err
		}
		end := p.Alloc(start)
		mapping, err := p.Map()
		if err != nil {
			return err
		}
		if end > start {
			if err := c.tx.Put(seq.key(), le(end)); err != nil {
				return err
			}
			c.event(a, EventSequenceJump, SeqTableID, int64(start), int64(end))
		}
		rec = &RestoreRecord{ID: last + 1, Dir: dir, ClusterID: m.ClusterID, BackupTS: m.BackupTS, Prealloc: *p,
			Databases: dbs, Status: RestoreRunning, Started: e.now().UTC()}
		for _, t := range tables {
			rec.Ranges += len(t.Ranges)
			en := IDMapEntry{RestoreID: rec.ID, Kind: MapTable, Upstream: t.TableID, Downstream: mapping[t.TableID], Name: t.Database + "." + t.Name}
			if err := putJSON(c.tx, idMapKey(rec.ID, MapTable, t.TableID), &en); err != nil {
				return err
			}
		}
		return putJSON(c.tx, restoreKey(rec.ID), rec)
	})
	if err == nil && !resumed {
		e.log.WithFields(map[string]any{logSeq: SeqTableID, logNext: rec.Prealloc.End, logUser: a.User}).Info("restore: table IDs preallocated")
	}
	return rec, resumed, err
}

// restoreCreateTables creates the databases and tables of the restore in
// one transaction, with the partition and index maps. A table that exists
// with its mapped ID is skipped (BR's ifExists); one that exists under
// another ID (dropped and re-created between runs) is restored into as it
// is, its downstream ID updated in the map, so its old checkpoint entries —
// keyed by the old ID — are ignored.
func (e *Engine) restoreCreateTables(ctx context.Context, rec *RestoreRecord, m *BackupManifest, tables []*BackupTable) ([]*restoreTarget, error) {
	var targets []*restoreTarget
	err := e.update(ctx, func(c *change) error {
		targets = targets[:0]
		if err := c.ddlAllowed(); err != nil {
			return err
		}
		for _, bt := range tables {
			var en IDMapEntry
			b, err := c.tx.Get(idMapKey(rec.ID, MapTable, bt.TableID))
			if err != nil {
				return err
			}
			if b == nil {
				return fmt.Errorf("%w: restore %d has no ID map entry for upstream table %d", ErrRestoreCheckpoint, rec.ID, bt.TableID)
			}
			if err := json.Unmarshal(b, &en); err != nil {
				return err
			}
			d := c.next.Database(bt.Database)
			if d == nil {
				collation := ""
				for _, bd := range m.Databases {
					if strings.EqualFold(bd.Name, bt.Database) {
						collation = bd.Collation
					}
				}
				if d, err = c.createDatabase(bt.Database, collation); err != nil {
					return err
				}
			}
			t := c.next.Table(d.Name, bt.Name)
			switch {
			case t != nil && t.ID != en.Downstream:
				en.Downstream = t.ID
				if err := putJSON(c.tx, idMapKey(rec.ID, MapTable, bt.TableID), &en); err != nil {
					return err
				}
			case t == nil:
				if err := c.checkIDFree(en.Downstream); err != nil {
					return err
				}
				// Checkpoint entries of a table that no longer exists are
				// stale: its rows went with it.
				if err := deletePrefix(c.tx, binary.BigEndian.AppendUint64(idKey(checkpointPrefix, rec.ID), en.Downstream)); err != nil {
					return err
				}
				s := bt.Schema
				spec := TableSpec{Database: d.Name, Name: bt.Name, Columns: s.Columns, PrimaryKey: s.PrimaryKey,
					Indexes: s.Indexes, Partition: s.Partition, Comment: s.Comment, Collation: s.Collation, Identity: s.Identity}
				if t, err = c.createTable(d, spec, en.Downstream); err != nil {
					return err
				}
			}
			if err := c.mapStores(rec.ID, bt, t); err != nil {
				return err
			}
			targets = append(targets, &restoreTarget{bt: bt, down: t, done: map[int]bool{}})
		}
		return nil
	})
	if err == nil {
		for _, t := range targets {
			e.forgetRuntime(t.down.ID)
		}
	}
	return targets, err
}

// mapStores records the partition and index maps: upstream head store
// (GSTO_NO) to downstream, by kind and position.
func (c *change) mapStores(rid uint64, bt *BackupTable, down *Table) error {
	heads := map[string]*Store{}
	for i := range down.Stores {
		if s := &down.Stores[i]; s.Head == 0 {
			heads[storeSlot(s)] = s
		}
	}
	for i := range bt.Schema.Stores {
		up := &bt.Schema.Stores[i]
		kind, name := "", ""
		switch {
		case up.Head != 0:
			continue
		case up.Kind == StorePartition:
			kind, name = MapPartition, fmt.Sprintf("%s.%s partition %d", bt.Database, bt.Name, up.Part+1)
			if p := bt.Schema.Partition; p != nil && int(up.Part) < len(p.Definitions) {
				name = fmt.Sprintf("%s.%s partition %s", bt.Database, bt.Name, p.Definitions[up.Part].Name)
			}
		case up.Kind == StoreIndex && int(up.Part) < len(bt.Schema.Indexes):
			kind, name = MapIndex, fmt.Sprintf("%s.%s index %s", bt.Database, bt.Name, bt.Schema.Indexes[up.Part].Name)
		default:
			continue
		}
		d := heads[storeSlot(up)]
		if d == nil {
			continue
		}
		en := IDMapEntry{RestoreID: rid, Kind: kind, Upstream: uint64(up.No), Downstream: uint64(d.No), Name: name}
		if err := putJSON(c.tx, idMapKey(rid, kind, uint64(up.No)), &en); err != nil {
			return err
		}
	}
	return nil
}

// loadCheckpoints marks the ranges recorded under each target's downstream
// table ID as done.
func (e *Engine) loadCheckpoints(ctx context.Context, rid uint64, targets []*restoreTarget) error {
	return e.st.View(ctx, func(tx store.Tx) error {
		for _, t := range targets {
			p := binary.BigEndian.AppendUint64(idKey(checkpointPrefix, rid), t.down.ID)
			err := tx.Scan(p, store.PrefixEnd(p), false, func(k, _ []byte) (bool, error) {
				if len(k) == len(p)+4 {
					t.done[int(binary.BigEndian.Uint32(k[len(p):]))] = true
				}
				return true, nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
}

type rangeJob struct {
	t   *restoreTarget
	idx int // 1-based range number
}

// restoreRanges restores every range not yet done, opts.Concurrency at a
// time, flushing completed ranges every interval and on exit.
func (e *Engine) restoreRanges(ctx context.Context, rid uint64, dir string, targets []*restoreTarget, opts RestoreOptions, run *restoreRun) error {
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var pmu sync.Mutex
	var pending []RestoreCheckpoint
	flush := func(ctx context.Context) error {
		pmu.Lock()
		batch := pending
		pending = nil
		pmu.Unlock()
		if len(batch) == 0 {
			return nil
		}
		err := e.st.Update(ctx, func(tx store.Tx) error {
			for _, cp := range batch {
				if err := putJSON(tx, checkpointKey(rid, cp.TableID, cp.Range), &cp); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			pmu.Lock()
			pending = append(batch, pending...)
			pmu.Unlock()
		}
		return err
	}
	jobs := make(chan rangeJob)
	errc := make(chan error, opts.Concurrency+1)
	var wg sync.WaitGroup
	for range opts.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				n, err := e.restoreRange(ctx, dir, j)
				if err != nil {
					errc <- err
					cancel()
					return
				}
				pmu.Lock()
				pending = append(pending, RestoreCheckpoint{RestoreID: rid, TableID: j.t.down.ID, Range: j.idx, Rows: n,
					Status: "done", Time: e.now().UTC()})
				pmu.Unlock()
				run.advance(n)
			}
		}()
	}
	flusherDone := make(chan struct{})
	go func() {
		defer close(flusherDone)
		tick := time.NewTicker(opts.CheckpointInterval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if err := flush(ctx); err != nil {
					if ctx.Err() != nil {
						return // shutting down: the final flush retries the batch
					}
					errc <- err
					cancel()
					return
				}
			}
		}
	}()
feed:
	for _, t := range targets {
		for i := range t.bt.Ranges {
			if t.done[i+1] {
				continue
			}
			select {
			case jobs <- rangeJob{t, i + 1}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	cancel()
	<-flusherDone
	// Flush at every exit, with a context of its own: the run's may be done.
	ferr := flush(context.WithoutCancel(ctx))
	select {
	case err := <-errc:
		return err
	default:
	}
	if ferr != nil {
		return ferr
	}
	return parent.Err()
}

func (r *restoreRun) advance(rows uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := &r.p
	p.RangesDone++
	p.Rows += rows
	p.Updated = time.Now().UTC()
	if el := p.Updated.Sub(p.Started).Seconds(); el > 0 {
		p.Rate = float64(p.Rows) / el
	}
	if p.Rate > 0 && p.RangesDone < p.RangesTotal {
		left := float64(p.RowsTotal) - float64(p.Rows)
		p.ETA = time.Duration(max(left, 0) / p.Rate * float64(time.Second))
	}
}

// restoreRange writes one range in one transaction: a key already there is
// overwritten with the same value and not counted again.
func (e *Engine) restoreRange(ctx context.Context, dir string, j rangeJob) (uint64, error) {
	rows, err := readRange(dir, j.t.bt.Ranges[j.idx-1])
	if err != nil {
		return 0, err
	}
	id := j.t.down.ID
	err = e.st.Update(ctx, func(tx store.Tx) error {
		s, ok, err := getStorage(tx, id)
		if err != nil || !ok {
			return storageErr(id, err)
		}
		for _, r := range rows {
			old, err := tx.Get(rowKey(id, r.key))
			if err != nil {
				return err
			}
			if old == nil {
				s.Rows++
			}
			if err := tx.Put(rowKey(id, r.key), r.value); err != nil {
				return err
			}
			for _, u := range r.unique {
				if err := tx.Put(uniqueKey(id, u.idx, u.key), r.key); err != nil {
					return err
				}
			}
		}
		return putStorage(tx, id, s)
	})
	return uint64(len(rows)), err
}

// finishTable sets the restored table's counters from the backup — the
// hidden row id, its stores' row counts, its identity records — and checks
// its row count and checksum against the backup's.
func (e *Engine) finishTable(ctx context.Context, t *restoreTarget) error {
	id := t.down.ID
	err := e.st.Update(ctx, func(tx store.Tx) error {
		s, ok, err := getStorage(tx, id)
		if err != nil || !ok {
			return storageErr(id, err)
		}
		s.RowID = max(s.RowID, t.bt.RowID)
		if err := putStorage(tx, id, s); err != nil {
			return err
		}
		for i := range t.down.Stores {
			st := &t.down.Stores[i]
			rows, ok := t.bt.StoreRows[storeSlot(st)]
			if !ok || st.Head != 0 {
				continue
			}
			ss, err := getStoreStat(tx, id, st.No)
			if err != nil {
				return err
			}
			ss.Rows = rows
			if err := putStoreStat(tx, id, st.No, ss); err != nil {
				return err
			}
		}
		if t.down.Identity != nil && len(t.bt.Identity) > 0 {
			if err := deletePrefix(tx, identKey(id)); err != nil {
				return err
			}
			for _, en := range t.bt.Identity {
				if err := tx.Put(append(identKey(id), en.Key...), en.Value); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	e.forgetRuntime(id)
	sum, err := e.TableChecksum(ctx, id)
	if err != nil {
		return err
	}
	if sum.Rows != t.bt.Rows || sum.CRC64Xor != t.bt.CRC64Xor || sum.Bytes != t.bt.Bytes {
		return fmt.Errorf("%w: table %s.%s (id %d): %d rows, %d bytes, crc64-xor %d; the backup has %d rows, %d bytes, crc64-xor %d",
			ErrRestoreChecksum, t.down.Database, t.down.Name, id, sum.Rows, sum.Bytes, sum.CRC64Xor, t.bt.Rows, t.bt.Bytes, t.bt.CRC64Xor)
	}
	return nil
}

// TableSum is a table's checksum the way BR computes it.
type TableSum struct {
	Rows, Bytes, CRC64Xor uint64
}

// TableChecksum computes table id's checksum from one read transaction.
func (e *Engine) TableChecksum(ctx context.Context, id uint64) (TableSum, error) {
	var s TableSum
	rp := rowPrefix(id)
	err := e.st.View(ctx, func(tx store.Tx) error {
		s = TableSum{}
		return tx.Scan(rp, store.PrefixEnd(rp), false, func(k, v []byte) (bool, error) {
			k = k[len(rp):]
			s.Rows++
			s.Bytes += uint64(len(k) + len(v))
			s.CRC64Xor ^= kvChecksum(k, v)
			return true, nil
		})
	})
	return s, err
}

// setRestoring marks the targets' tables as being restored by run (nil:
// done): writes by anyone else are refused until then.
func (e *Engine) setRestoring(run *restoreRun, targets []*restoreTarget) {
	e.restoreState.Lock()
	defer e.restoreState.Unlock()
	if run != nil {
		e.running = run
		if e.restoring == nil {
			e.restoring = map[uint64]uint64{}
		}
		for _, t := range targets {
			e.restoring[t.down.ID] = run.p.RestoreID
		}
		return
	}
	for _, t := range targets {
		delete(e.restoring, t.down.ID)
	}
}

// checkNotRestoring refuses a write to a table a restore is writing.
func (e *Engine) checkNotRestoring(id uint64) error {
	e.restoreState.Lock()
	rid, ok := e.restoring[id]
	e.restoreState.Unlock()
	if !ok {
		return nil
	}
	name := fmt.Sprint(id)
	if t := e.State().TableByID(id); t != nil {
		name = t.Database + "." + t.Name
	}
	return fmt.Errorf("%w: table %s is being restored by restore %d; writes are refused until the restore finishes", ErrTableRestoring, name, rid)
}

// RestoreProgress returns the progress of the running or the last restore
// of this server process (none before the first).
func (e *Engine) RestoreProgress() []RestoreProgress {
	e.restoreState.Lock()
	run := e.running
	e.restoreState.Unlock()
	if run == nil {
		return nil
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	return []RestoreProgress{run.p}
}

// Restores returns every restore record, by restore ID.
func (e *Engine) Restores(ctx context.Context) ([]*RestoreRecord, error) {
	var out []*RestoreRecord
	err := e.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		return scanJSON(tx, restorePrefix, func(r *RestoreRecord) { out = append(out, r) })
	})
	return out, err
}

// IDMap returns the ID map of restore rid (0: every restore), by restore,
// kind and upstream ID.
func (e *Engine) IDMap(ctx context.Context, rid uint64) ([]IDMapEntry, error) {
	p := idMapPrefix
	if rid != 0 {
		p = idKey(idMapPrefix, rid)
	}
	var out []IDMapEntry
	err := e.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		return scanJSON(tx, p, func(en *IDMapEntry) { out = append(out, *en) })
	})
	slices.SortStableFunc(out, func(a, b IDMapEntry) int {
		if a.RestoreID != b.RestoreID {
			return cmp.Compare(a.RestoreID, b.RestoreID)
		}
		return strings.Compare(kindOrder(a.Kind), kindOrder(b.Kind))
	})
	return out, err
}

func kindOrder(k string) string {
	switch k {
	case MapTable:
		return "0"
	case MapPartition:
		return "1"
	}
	return "2"
}

// Checkpoints returns every recorded range, by restore, table and range.
func (e *Engine) Checkpoints(ctx context.Context) ([]RestoreCheckpoint, error) {
	var out []RestoreCheckpoint
	err := e.st.View(ctx, func(tx store.Tx) error {
		out = out[:0]
		n := len(checkpointPrefix)
		return tx.Scan(checkpointPrefix, store.PrefixEnd(checkpointPrefix), false, func(k, v []byte) (bool, error) {
			if len(k) != n+20 {
				return true, nil
			}
			var cp RestoreCheckpoint
			if err := json.Unmarshal(v, &cp); err != nil {
				return false, err
			}
			cp.RestoreID = binary.BigEndian.Uint64(k[n:])
			cp.TableID = binary.BigEndian.Uint64(k[n+8:])
			cp.Range = int(binary.BigEndian.Uint32(k[n+16:]))
			out = append(out, cp)
			return true, nil
		})
	})
	return out, err
}
