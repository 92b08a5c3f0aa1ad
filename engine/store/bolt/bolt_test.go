package bolt_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/bolt"
	"github.com/sysemu/sysemu/engine/store/storetest"
)

func open(t testing.TB, dir string, opts bolt.Options) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(filepath.Join(dir, "sysemu.db"), opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) store.Store {
		return open(t, dir, bolt.Options{})
	}, storetest.Options{Durable: true})
}

// TestStoreBatchDelay runs the suite with groups that wait for more Updates.
func TestStoreBatchDelay(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) store.Store {
		return open(t, dir, bolt.Options{MaxBatchDelay: time.Millisecond})
	}, storetest.Options{Durable: true})
}

func TestOpenLocked(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir, bolt.Options{})
	defer s.Close()

	path := filepath.Join(dir, "sysemu.db")
	const timeout = 300 * time.Millisecond
	start := time.Now()
	s2, err := bolt.Open(path, bolt.Options{Timeout: timeout})
	took := time.Since(start)
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a file in use succeeded")
	}
	if !errors.Is(err, bolt.ErrLocked) || !strings.Contains(err.Error(), path) ||
		!strings.Contains(err.Error(), "another sysemu") {
		t.Errorf("second Open = %q; want ErrLocked naming %s and another sysemu", err, path)
	}
	if took > timeout+time.Second {
		t.Errorf("second Open took %v, want about %v", took, timeout)
	}
	t.Logf("second Open failed after %v: %v", took, err)

	// Once the first is closed, the file opens.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	open(t, dir, bolt.Options{Timeout: timeout}).Close()
}

// benchUpdate runs one single-key increment per op, on a key of its own for
// each goroutine, with fsync.
func benchUpdate(b *testing.B, parallel bool) {
	s := open(b, b.TempDir(), bolt.Options{})
	defer s.Close()
	ctx := context.Background()
	var ids atomic.Uint32
	worker := func(next func() bool) {
		key := binary.BigEndian.AppendUint32([]byte("bench/"), ids.Add(1))
		for next() {
			err := s.Update(ctx, func(tx store.Tx) error {
				v, err := tx.Get(key)
				if err != nil {
					return err
				}
				var n uint64
				if v != nil {
					n = binary.BigEndian.Uint64(v)
				}
				return tx.Put(key, binary.BigEndian.AppendUint64(nil, n+1))
			})
			if err != nil {
				b.Error(err)
				return
			}
		}
	}
	if parallel {
		b.RunParallel(func(pb *testing.PB) { worker(pb.Next) })
	} else {
		i := 0
		worker(func() bool { i++; return i <= b.N })
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkUpdateParallel shows group commit: run it with -cpu 1,8; with 8
// goroutines it should do several times the ops/s it does with 1, and of
// BenchmarkUpdateSequential.
func BenchmarkUpdateParallel(b *testing.B) { benchUpdate(b, true) }

func BenchmarkUpdateSequential(b *testing.B) { benchUpdate(b, false) }

// TestUpdatesDuringLongView checks that the default memory map is big enough
// for commits that grow the file not to wait for an open View.
func TestUpdatesDuringLongView(t *testing.T) {
	s := open(t, t.TempDir(), bolt.Options{})
	defer s.Close()
	ctx := context.Background()
	done := make(chan error, 1)
	err := s.View(ctx, func(tx store.Tx) error {
		go func() {
			value := make([]byte, 1<<10)
			for i := range 100 {
				err := s.Update(ctx, func(tx store.Tx) error {
					for j := range 100 {
						if err := tx.Put(fmt.Appendf(nil, "k%03d-%03d", i, j), value); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		select {
		case err := <-done:
			return err
		case <-time.After(20 * time.Second):
			return errors.New("Updates growing the file waited for an open View")
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A truncated file or one with a torn page is refused at Open with
// ErrDamaged, never served (and never a crash on the memory map).
func TestOpenDamaged(t *testing.T) {
	ctx := context.Background()
	src := t.TempDir()
	s := open(t, src, bolt.Options{})
	val := []byte(strings.Repeat("v", 200))
	for b := range 20 {
		err := s.Update(ctx, func(tx store.Tx) error {
			for i := range 100 {
				if err := tx.Put(binary.BigEndian.AppendUint64([]byte("k"), uint64(b*100+i)), val); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	good, err := os.ReadFile(filepath.Join(src, "sysemu.db"))
	if err != nil {
		t.Fatal(err)
	}
	// The newer meta page (bbolt's layout: a 16-byte page header, then
	// magic, version, page size, flags, the root bucket's page and
	// sequence, the freelist page, the high-water page id, the txid).
	meta := func(i int) (pageSize, root, hwm, txid uint64) {
		m := good[i*4096+16:]
		le := binary.LittleEndian
		return uint64(le.Uint32(m[8:])), le.Uint64(m[16:]), le.Uint64(m[40:]), le.Uint64(m[48:])
	}
	page, root, hwm, tx0 := meta(0)
	if p1, r1, h1, tx1 := meta(1); tx1 > tx0 {
		page, root, hwm = p1, r1, h1
	}
	used := int(hwm * page)
	torn := bytes.Clone(good)
	for i := int(root * page); i < int((root+1)*page); i++ {
		torn[i] = 0xA5 // a page whose write never finished
	}
	zeroed := bytes.Clone(good)
	clear(zeroed[root*page : (root+1)*page])
	for name, b := range map[string][]byte{
		"truncated to half of its pages": good[:used/2],
		"truncated to 3 pages":           good[:3*page],
		"truncated mid-page":             good[:used-int(page)-100],
		"torn root page":                 torn,
		"zeroed root page":               zeroed,
		"both meta pages zeroed":         append(make([]byte, 2*page), good[2*page:]...),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "sysemu.db"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := bolt.Open(filepath.Join(dir, "sysemu.db"), bolt.Options{})
			if err == nil {
				s.Close()
				t.Fatal("a damaged file opened")
			}
			if !errors.Is(err, bolt.ErrDamaged) || !strings.Contains(err.Error(), "restore it from a backup") {
				t.Fatalf("Open: %v, want ErrDamaged", err)
			}
		})
	}
	// The intact file still opens.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "sysemu.db"), good, 0o600); err != nil {
		t.Fatal(err)
	}
	open(t, dir, bolt.Options{}).Close()
}

// TestStoreFlushing runs the suite with flushes every millisecond, so that
// transactions keep meeting flushes and overlays pruned under them.
func TestStoreFlushing(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) store.Store {
		return open(t, dir, bolt.Options{FlushInterval: time.Millisecond})
	}, storetest.Options{Durable: true})
}

// TestStoreUnflushed runs the suite with no flush before Close: every read
// goes through the overlay, and every reopen replays the log.
func TestStoreUnflushed(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) store.Store {
		return open(t, dir, bolt.Options{FlushInterval: time.Hour})
	}, storetest.Options{Durable: true})
}

// TestKilledWriter kills a real process (this test binary, re-run as a
// writer) with SIGKILL while 4 goroutines commit, then reopens its store:
// every acknowledged Update is there, whole, and so is every Update that
// made it into the log without its acknowledgement.
func TestKilledWriter(t *testing.T) {
	if dir := os.Getenv("BOLT_TEST_WRITER"); dir != "" {
		killedWriter(dir)
		return
	}
	for _, flush := range []string{"1h", "2ms"} {
		for round := range 4 {
			t.Run(fmt.Sprintf("flush=%s/%d", flush, round), func(t *testing.T) {
				dir := t.TempDir()
				cmd := exec.Command(os.Args[0], "-test.run=^TestKilledWriter$")
				cmd.Env = append(os.Environ(), "BOLT_TEST_WRITER="+dir, "BOLT_TEST_FLUSH="+flush)
				cmd.Stderr = os.Stderr
				out, err := cmd.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				acked := map[int]int{}
				stopAt := 300 + rand.IntN(3000)
				sc := bufio.NewScanner(out)
				for n := 0; n < stopAt && sc.Scan(); n++ {
					var g, i int
					if _, err := fmt.Sscan(sc.Text(), &g, &i); err != nil {
						t.Fatalf("writer said %q", sc.Text())
					}
					acked[g] = max(acked[g], i)
				}
				cmd.Process.Kill()
				cmd.Wait()
				if len(acked) == 0 {
					t.Fatal("the writer acknowledged nothing")
				}
				s := open(t, dir, bolt.Options{})
				defer s.Close()
				err = s.View(context.Background(), func(tx store.Tx) error {
					for g := range 4 {
						v, err := tx.Get(fmt.Appendf(nil, "last/%d", g))
						if err != nil {
							return err
						}
						last := -1
						if v != nil {
							last, _ = strconv.Atoi(string(v))
						}
						if last < acked[g] {
							return fmt.Errorf("writer %d: acknowledged %d, stored %d", g, acked[g], last)
						}
						for i := 0; i <= last; i++ {
							v, err := tx.Get(fmt.Appendf(nil, "row/%d/%06d", g, i))
							if err != nil {
								return err
							}
							if string(v) != strings.Repeat(strconv.Itoa(i), 50) {
								return fmt.Errorf("writer %d: row %d of %d is %q", g, i, last, v)
							}
						}
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
			})
		}
	}
}

// killedWriter commits until killed, printing "writer update" after each
// acknowledged Update, and ends with an error if not killed within a minute.
func killedWriter(dir string) {
	interval, _ := time.ParseDuration(os.Getenv("BOLT_TEST_FLUSH"))
	s, err := bolt.Open(filepath.Join(dir, "sysemu.db"), bolt.Options{FlushInterval: interval, SegmentSize: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var mu sync.Mutex
	for g := range 4 {
		go func() {
			for i := 0; ; i++ {
				err := s.Update(context.Background(), func(tx store.Tx) error {
					if err := tx.Put(fmt.Appendf(nil, "row/%d/%06d", g, i), []byte(strings.Repeat(strconv.Itoa(i), 50))); err != nil {
						return err
					}
					return tx.Put(fmt.Appendf(nil, "last/%d", g), []byte(strconv.Itoa(i)))
				})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Println(g, i)
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Minute)
	os.Exit(3)
}

// A log copied in beside another database file is refused, not replayed.
func TestOpenForeignLog(t *testing.T) {
	ctx := context.Background()
	a, b := t.TempDir(), t.TempDir()
	sa := open(t, a, bolt.Options{FlushInterval: time.Hour})
	if err := sa.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	// Copy a's log while a is open, as a crash would leave it.
	if err := os.CopyFS(filepath.Join(b, "sysemu.db-wal"), os.DirFS(filepath.Join(a, "sysemu.db-wal"))); err != nil {
		t.Fatal(err)
	}
	if err := sa.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(a, "sysemu.db-wal")); err == nil {
		entries, _ := os.ReadDir(filepath.Join(a, "sysemu.db-wal"))
		if len(entries) > 0 {
			t.Errorf("a clean Close left %d log segments", len(entries))
		}
	}
	sb, err := bolt.Open(filepath.Join(b, "sysemu.db"), bolt.Options{})
	if err == nil {
		sb.Close()
		t.Fatal("a database file opened with another file's log beside it")
	}
	if !errors.Is(err, bolt.ErrDamaged) || !strings.Contains(err.Error(), "belongs to another database file") {
		t.Fatalf("Open: %v, want ErrDamaged: belongs to another database file", err)
	}
}

// TestScanMergesFileAndLog checks Get and Scan against a model on keys split
// between the file (flushed by a Close) and the overlay (puts and deletes
// logged since, some over flushed keys), forward and reverse, over random
// ranges, in Views and in an Update that writes as it scans.
func TestScanMergesFileAndLog(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	key := func(i int) []byte { return fmt.Appendf(nil, "k%03d", i) }
	model := map[string]string{}
	apply := func(s *bolt.Store, n int) {
		t.Helper()
		err := s.Update(ctx, func(tx store.Tx) error {
			for range n {
				i := rng.IntN(300)
				if rng.IntN(3) == 0 {
					delete(model, string(key(i)))
					if err := tx.Delete(key(i)); err != nil {
						return err
					}
					continue
				}
				v := fmt.Sprint(rng.Uint32())
				model[string(key(i))] = v
				if err := tx.Put(key(i), []byte(v)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s := open(t, dir, bolt.Options{FlushInterval: time.Hour})
	apply(s, 250)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, bolt.Options{FlushInterval: time.Hour})
	defer s.Close()
	for range 20 {
		apply(s, 10) // in the overlay only
	}
	want := func(start, end string, reverse bool) []string {
		var keys []string
		for k := range model {
			if k >= start && (end == "" || k < end) {
				keys = append(keys, k+"="+model[k])
			}
		}
		slices.Sort(keys)
		if reverse {
			slices.Reverse(keys)
		}
		return keys
	}
	for round := range 300 {
		a, b := rng.IntN(310), rng.IntN(310)
		start, end := string(key(min(a, b))), string(key(max(a, b)))
		if round%10 == 0 {
			end = ""
		}
		reverse := round%2 == 1
		var endKey []byte
		if end != "" {
			endKey = []byte(end)
		}
		var got []string
		err := s.View(ctx, func(tx store.Tx) error {
			return tx.Scan([]byte(start), endKey, reverse, func(k, v []byte) (bool, error) {
				got = append(got, string(k)+"="+string(v))
				return true, nil
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		if w := want(start, end, reverse); !slices.Equal(got, w) {
			t.Fatalf("Scan(%s, %q, reverse %v) = %v, want %v", start, end, reverse, got, w)
		}
	}
	// An Update that deletes every other key it visits and puts a key
	// ahead of itself: it sees each key that is there when it gets there.
	err := s.Update(ctx, func(tx store.Tx) error {
		visited := map[string]bool{}
		n := 0
		err := tx.Scan([]byte("k"), nil, false, func(k, v []byte) (bool, error) {
			if visited[string(k)] {
				return false, fmt.Errorf("%s visited twice", k)
			}
			visited[string(k)] = true
			if model[string(k)] != string(v) {
				return false, fmt.Errorf("%s = %s, want %s", k, v, model[string(k)])
			}
			n++
			if n%2 == 0 {
				delete(model, string(k))
				return true, tx.Delete(k)
			}
			ahead := append(bytes.Clone(k), 'x')
			model[string(ahead)] = "new"
			return true, tx.Put(ahead, []byte("new"))
		})
		if err != nil {
			return err
		}
		for k := range model {
			if !visited[k] {
				return fmt.Errorf("%s skipped", k)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range model {
		if got := get(t, s, k); got != v {
			t.Fatalf("Get(%s) = %q, want %q", k, got, v)
		}
	}
}

func get(t *testing.T, s store.Store, key string) string {
	t.Helper()
	var v []byte
	err := s.View(context.Background(), func(tx store.Tx) (err error) {
		v, err = tx.Get([]byte(key))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(v)
}

// TestBankWhileFlushing moves money between accounts from 6 goroutines
// (some transfers failing, some panicking) while flushes run every
// millisecond and log segments rotate every few commits, and checks from
// 2 more goroutines that every View and every Update sees the total
// unchanged: base and overlay together are always one state.
func TestBankWhileFlushing(t *testing.T) {
	const accounts, total = 50, 50 * 1000
	ctx := context.Background()
	dir := t.TempDir()
	s := open(t, dir, bolt.Options{FlushInterval: time.Millisecond, SegmentSize: 8 << 10})
	key := func(i int) []byte { return fmt.Appendf(nil, "acct/%03d", i) }
	err := s.Update(ctx, func(tx store.Tx) error {
		for i := range accounts {
			if err := tx.Put(key(i), []byte("1000")); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var sums atomic.Int64
	sum := func(tx store.Tx) (int, error) {
		n, seen := 0, 0
		err := tx.Scan([]byte("acct/"), []byte("acct0"), sums.Add(1)%2 == 0, func(k, v []byte) (bool, error) {
			x, err := strconv.Atoi(string(v))
			n += x
			seen++
			return true, err
		})
		if err == nil && seen != accounts {
			err = fmt.Errorf("%d accounts, want %d", seen, accounts)
		}
		return n, err
	}
	deadline := time.Now().Add(2 * time.Second)
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for i := 0; time.Now().Before(deadline); i++ {
				a, b, amt := rng.IntN(accounts), rng.IntN(accounts), rng.IntN(100)
				func() {
					defer func() { recover() }() // the panicking transfers
					err := s.Update(ctx, func(tx store.Tx) error {
						va, _ := tx.Get(key(a))
						vb, _ := tx.Get(key(b))
						x, _ := strconv.Atoi(string(va))
						y, _ := strconv.Atoi(string(vb))
						if a == b {
							return nil
						}
						if err := tx.Put(key(a), []byte(strconv.Itoa(x-amt))); err != nil {
							return err
						}
						if err := tx.Put(key(b), []byte(strconv.Itoa(y+amt))); err != nil {
							return err
						}
						switch i % 10 {
						case 3:
							return errors.New("refused") // written, then failed: nothing may stay
						case 7:
							panic("transfer panicked")
						}
						return nil
					})
					if err != nil && err.Error() != "refused" {
						errs <- err
					}
				}()
			}
		})
	}
	for r := range 2 {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				check := func(tx store.Tx) error {
					n, err := sum(tx)
					if err == nil && n != total {
						err = fmt.Errorf("total %d, want %d", n, total)
					}
					return err
				}
				var err error
				if r == 0 {
					err = s.View(ctx, check)
				} else {
					err = s.Update(ctx, check)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, dir, bolt.Options{})
	defer s.Close()
	if err := s.View(ctx, func(tx store.Tx) error {
		n, err := sum(tx)
		if err == nil && n != total {
			err = fmt.Errorf("after reopening: total %d, want %d", n, total)
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
}
