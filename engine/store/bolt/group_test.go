package bolt

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sysemu/sysemu/engine/store"
)

// TestFailedLogFailsWhatRanOnIt: while a group's record is being logged,
// Updates run on its writes in the next group. When the record cannot be
// written, the group and those Updates fail (one of them with its own error
// gets the log's), none of their writes stay, and the store goes on from
// what was logged, also after reopening.
func TestFailedLogFailsWhatRanOnIt(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { s.Close() }()
	put := func(k, v string) error {
		return s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte(k), []byte(v)) })
	}
	get := func(k string) (v []byte) {
		t.Helper()
		err := s.View(ctx, func(tx store.Tx) error {
			var err error
			v, err = tx.Get([]byte(k))
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if err := put("a", "0"); err != nil {
		t.Fatal(err)
	}

	held, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	testHookAppend = func(w *wal) {
		once.Do(func() {
			close(held)
			<-release
			// The record cannot be written: the segment is open read-only.
			f, err := os.Open(w.name)
			if err != nil {
				t.Error(err)
				return
			}
			w.f.Close()
			w.f = f
		})
	}
	defer func() { testHookAppend = nil }()

	errs := make(chan error, 4)
	go func() { errs <- put("a", "1") }()
	<-held
	for i := range 3 {
		go func() {
			errs <- s.Update(ctx, func(tx store.Tx) error {
				v, err := tx.Get([]byte("a"))
				if err != nil || string(v) != "1" {
					return fmt.Errorf("read a = %q (%v), want the write being logged", v, err)
				}
				if err := tx.Put(fmt.Appendf(nil, "b%d", i), v); err != nil {
					return err
				}
				if i == 2 {
					return errors.New("own failure")
				}
				return nil
			})
		}()
	}
	for {
		s.gc.mu.Lock()
		n := s.gc.open.members
		s.gc.mu.Unlock()
		if n == 3 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	close(release)
	for range 4 {
		if err := <-errs; !errors.Is(err, syscall.EBADF) {
			t.Errorf("Update = %v, want the log's write failure (EBADF)", err)
		}
	}
	for _, k := range []string{"b0", "b1", "b2"} {
		if v := get(k); v != nil {
			t.Errorf("%s = %q after its group failed", k, v)
		}
	}
	if v := get("a"); string(v) != "0" {
		t.Errorf("a = %q, want the logged 0", v)
	}
	if err := put("a", "2"); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s, err = Open(path, Options{}); err != nil {
		t.Fatal(err)
	}
	if v := get("a"); string(v) != "2" {
		t.Errorf("after reopening a = %q, want 2", v)
	}
	for _, k := range []string{"b0", "b1", "b2"} {
		if v := get(k); v != nil {
			t.Errorf("after reopening %s = %q", k, v)
		}
	}
}

// TestOverlayShrinksUnderLoad: under a load that always has a group being
// logged, flushes still start and what they wrote leaves the overlay, so it
// holds about one flush interval of writes, not all of them.
func TestOverlayShrinksUnderLoad(t *testing.T) {
	ctx := context.Background()
	s, err := Open(filepath.Join(t.TempDir(), "db"), Options{NoSync: true, FlushInterval: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var wg sync.WaitGroup
	var written, largest int
	var mu sync.Mutex
	deadline := time.Now().Add(time.Second)
	for w := range 4 {
		wg.Go(func() {
			for i := 0; time.Now().Before(deadline); i++ {
				err := s.Update(ctx, func(tx store.Tx) error { return tx.Put(fmt.Appendf(nil, "k%d/%08d", w, i), []byte("v")) })
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				written++
				largest = max(largest, s.gc.head.Load().t.Len())
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d writes, at most %d in the overlay", written, largest)
	if written < 1000 || largest > written/4 {
		t.Fatalf("%d writes, up to %d of them in the overlay at once", written, largest)
	}
}
