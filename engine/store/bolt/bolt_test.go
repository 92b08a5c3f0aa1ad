package bolt_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
