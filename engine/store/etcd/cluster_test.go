package etcd_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/etcd"
	"github.com/sysemu/sysemu/engine/store/etcd/etcdtest"
)

var ctx = context.Background()

// twoNodes returns two stores over one etcd prefix, each with its own
// client: two nodes of a cluster.
func twoNodes(t *testing.T, c *etcdtest.Cluster, opts etcd.Options) (*etcd.Store, *etcd.Store) {
	opts.Prefix = "/two/"
	a, b := etcd.New(c.Client(t), opts), etcd.New(c.Client(t), opts)
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

func putKV(t *testing.T, s store.Store, k, v string) {
	t.Helper()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte(k), []byte(v)) }); err != nil {
		t.Fatal(err)
	}
}

func count(tx store.Tx, prefix string) (n int, err error) {
	err = tx.Scan([]byte(prefix), store.PrefixEnd([]byte(prefix)), false, func(k, v []byte) (bool, error) {
		n++
		return true, nil
	})
	return n, err
}

// incrCounter adds 1 to the counter at key "n" in one Update.
func incrCounter(s store.Store) error {
	return s.Update(ctx, func(tx store.Tx) error {
		v, err := tx.Get([]byte("n"))
		if err != nil {
			return err
		}
		var n uint64
		if v != nil {
			n = binary.BigEndian.Uint64(v)
		}
		return tx.Put([]byte("n"), binary.BigEndian.AppendUint64(nil, n+1))
	})
}

// TestNodesIncrement: two stores (nodes) increment one counter; none of the
// increments is lost.
func TestNodesIncrement(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	a, b := twoNodes(t, c, etcd.Options{})
	const per = 150
	var wg sync.WaitGroup
	for _, s := range []*etcd.Store{a, b, a, b} {
		wg.Go(func() {
			for range per {
				if err := incrCounter(s); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	err := a.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get([]byte("n"))
		if err == nil && binary.BigEndian.Uint64(v) != 4*per {
			t.Errorf("counter = %d, want %d", binary.BigEndian.Uint64(v), 4*per)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestScanSeesOtherNodesDeletes: write skew through a scan. Each node counts
// the keys under "slot/" and adds one only if fewer than 2 exist; the other
// node's inserts and deletes in between must make it retry, so the limit
// holds. A delete is only visible to the compare through its tombstone.
func TestScanSeesOtherNodesDeletes(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	a, b := twoNodes(t, c, etcd.Options{})
	putKV(t, a, "slot/0", "x")
	putKV(t, a, "slot/1", "x")
	// b scans (2 keys, full), then a deletes one and b's view is stale: b
	// must not commit on the strength of its scan.
	var runs int
	err := b.Update(ctx, func(tx store.Tx) error {
		runs++
		n, err := count(tx, "slot/")
		if err != nil {
			return err
		}
		if runs == 1 {
			// Another node deletes a slot after b's read.
			if err := a.Update(ctx, func(tx store.Tx) error { return tx.Delete([]byte("slot/0")) }); err != nil {
				return err
			}
		}
		return tx.Put([]byte("seen"), []byte(fmt.Sprint(n)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Errorf("fn ran %d times, want 2 (the delete after the scan must conflict)", runs)
	}
	err = a.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get([]byte("seen"))
		if string(v) != "1" {
			t.Errorf("seen = %q, want 1 (counted after the delete)", v)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// After a sweep the tombstones are gone and a scan that started before
	// the sweep retries.
	runs = 0
	err = b.Update(ctx, func(tx store.Tx) error {
		runs++
		if _, err := count(tx, "slot/"); err != nil {
			return err
		}
		if runs == 1 {
			if n, err := a.Sweep(ctx); err != nil || n == 0 {
				return fmt.Errorf("sweep: %d tombstones, %v; want some", n, err)
			}
		}
		return tx.Put([]byte("seen"), []byte("2"))
	})
	if err != nil {
		t.Fatal(err)
	}
	if runs != 2 {
		t.Errorf("after a sweep: fn ran %d times, want 2", runs)
	}
}

// TestBigTransactionAcrossNodes: a transaction over the request limits
// commits in two phases; the other node never sees half of it.
func TestBigTransactionAcrossNodes(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	a, b := twoNodes(t, c, etcd.Options{})
	const n = 3000
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			err := b.View(ctx, func(tx store.Tx) error {
				got, err := count(tx, "big/")
				if err == nil && got != 0 && got != n && got != n/2 {
					t.Errorf("node b saw %d keys of a %d-key transaction", got, n)
				}
				return err
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	})
	err := a.Update(ctx, func(tx store.Tx) error {
		for i := range n {
			if err := tx.Put(fmt.Appendf(nil, "big/%05d", i), bytes.Repeat([]byte("v"), 100)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = a.Update(ctx, func(tx store.Tx) error {
		for i := 0; i < n; i += 2 {
			if err := tx.Delete(fmt.Appendf(nil, "big/%05d", i)); err != nil {
				return err
			}
		}
		return nil
	})
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTooLarge(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	s := etcd.New(c.Client(t), etcd.Options{})
	defer s.Close()
	err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("huge"), make([]byte, 2<<20)) })
	if !errors.Is(err, store.ErrTooLarge) {
		t.Fatalf("Update of a 2 MiB value = %v, want %v", err, store.ErrTooLarge)
	}
}

// TestQuorum: with two of three members down, Updates fail with
// store.ErrUnavailable and Views still answer from the member left; when
// quorum returns, every commit is there.
func TestQuorum(t *testing.T) {
	c := etcdtest.Start(t, 3, etcdtest.Options{})
	s := etcd.New(c.Client(t), etcd.Options{RequestTimeout: 2 * time.Second})
	defer s.Close()
	putKV(t, s, "a", "1")
	c.Stop(2)
	putKV(t, s, "b", "2") // one down: still a quorum
	c.Stop(1)
	err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("c"), []byte("3")) })
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Update without quorum = %v, want %v", err, store.ErrUnavailable)
	}
	err = s.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get([]byte("b"))
		if string(v) != "2" {
			t.Errorf("View without quorum: b = %q, want 2", v)
		}
		return err
	})
	if err != nil {
		t.Fatalf("View without quorum: %v", err)
	}
	c.Restart(1)
	c.Restart(2)
	deadline := time.Now().Add(30 * time.Second)
	for {
		err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("d"), []byte("4")) })
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Update after quorum returned: %v", err)
		}
	}
	err = s.View(ctx, func(tx store.Tx) error {
		for _, k := range []string{"a", "b", "d"} {
			if v, err := tx.Get([]byte(k)); err != nil || v == nil {
				t.Errorf("after quorum returned: %s = %q, %v", k, v, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestNodeNotStarved: while node a commits back to back on a counter, node
// b's increments of the same counter still commit. (b used to starve in 1
// of 3 runs: after five conflicts it slept, then retried on the snapshot
// its last failed commit had brought, by then already overtaken by a's
// commits, and so conflicted for as long as a kept committing.)
func TestNodeNotStarved(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{})
	a, b := twoNodes(t, c, etcd.Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := incrCounter(a); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	defer wg.Wait()
	defer close(stop)
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() {
		for range 20 {
			if err := incrCounter(b); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("node b's 20 increments did not commit in 60 s while node a kept committing: b starves")
	}
}
