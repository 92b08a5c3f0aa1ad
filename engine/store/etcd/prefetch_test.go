package etcd_test

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/etcd"
	"github.com/sysemu/sysemu/engine/store/etcd/etcdtest"
)

// The tx methods the engine uses through an interface of its own.
type prefetcher interface {
	Prefetch(keys [][]byte, ranges [][2][]byte) error
	PrefetchNext(keys [][]byte, ranges [][2][]byte)
}

func keys(ks ...string) [][]byte {
	var out [][]byte
	for _, k := range ks {
		out = append(out, []byte(k))
	}
	return out
}

func prefixRange(p string) [][2][]byte {
	return [][2][]byte{{[]byte(p), store.PrefixEnd([]byte(p))}}
}

// Two nodes each bump a counter and add a key numbered by a scan of a
// prefix, every transaction prefetching both and announcing them for the
// next (so most start at a commit's answer): nothing is lost or taken twice.
func TestPrefetchHandoffIncrement(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	a, b := twoNodes(t, c, etcd.Options{})
	const per = 60
	var wg sync.WaitGroup
	for _, s := range []*etcd.Store{a, b, a, b} {
		wg.Go(func() {
			for range per {
				err := s.Update(ctx, func(tx store.Tx) error {
					p := tx.(prefetcher)
					if err := p.Prefetch(keys("n"), prefixRange("item/")); err != nil {
						return err
					}
					p.PrefetchNext(keys("n"), prefixRange("item/"))
					v, err := tx.Get([]byte("n"))
					if err != nil {
						return err
					}
					n, _ := strconv.Atoi(string(v))
					items, err := count(tx, "item/")
					if err != nil {
						return err
					}
					if items != n {
						return fmt.Errorf("counter %d, %d items", n, items)
					}
					if err := tx.Put([]byte(fmt.Sprintf("item/%06d", items)), nil); err != nil {
						return err
					}
					return tx.Put([]byte("n"), []byte(strconv.Itoa(n+1)))
				})
				if err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	err := a.View(ctx, func(tx store.Tx) error {
		v, err := tx.Get([]byte("n"))
		if err != nil {
			return err
		}
		items, err := count(tx, "item/")
		if string(v) != strconv.Itoa(4*per) || items != 4*per {
			return fmt.Errorf("counter %s, %d items, want %d of each", v, items, 4*per)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

var errSawOld = errors.New("saw the old value")

// A transaction that starts at a commit's answer and then fails, or writes
// nothing, decided on a snapshot no commit checks: it runs again on a
// fresh one, so another node's later write is never missed.
func TestHandoffDecidesFresh(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	a, b := twoNodes(t, c, etcd.Options{})
	err := a.Update(ctx, func(tx store.Tx) error {
		tx.(prefetcher).PrefetchNext(keys("k"), nil)
		return tx.Put([]byte("k"), []byte("old"))
	})
	if err != nil {
		t.Fatal(err)
	}
	putKV(t, b, "k", "new")
	for _, write := range []bool{false, true} {
		var seen []string
		err := a.Update(ctx, func(tx store.Tx) error {
			v, err := tx.Get([]byte("k"))
			if err != nil {
				return err
			}
			seen = append(seen, string(v))
			if string(v) == "old" {
				return errSawOld
			}
			if write {
				return tx.Put([]byte("w"), v)
			}
			return nil
		})
		if err != nil {
			t.Errorf("write %v: %v (values seen %q)", write, err, seen)
		}
		if len(seen) == 0 || seen[len(seen)-1] != "new" {
			t.Errorf("write %v: saw %q, want to end on \"new\"", write, seen)
		}
		// Set up the stale handoff again for the writing case.
		err = a.Update(ctx, func(tx store.Tx) error {
			tx.(prefetcher).PrefetchNext(keys("k"), nil)
			return tx.Put([]byte("k"), []byte("old"))
		})
		if err != nil {
			t.Fatal(err)
		}
		putKV(t, b, "k", "new")
	}
}

// A prefetched key the transaction never reads is no dependency: another
// node's write of it does not fail the commit. A prefetched key it reads is.
func TestPrefetchedUnreadNoConflict(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	a, b := twoNodes(t, c, etcd.Options{})
	putKV(t, a, "x", "1")
	putKV(t, a, "y", "1")
	for _, readY := range []bool{false, true} {
		runs := 0
		err := a.Update(ctx, func(tx store.Tx) error {
			runs++
			if err := tx.(prefetcher).Prefetch(keys("x", "y"), nil); err != nil {
				return err
			}
			if _, err := tx.Get([]byte("x")); err != nil {
				return err
			}
			if readY {
				if _, err := tx.Get([]byte("y")); err != nil {
					return err
				}
			}
			if runs == 1 {
				putKV(t, b, "y", "2") // between this run's read and its commit
			}
			return tx.Put([]byte("z"), []byte("1"))
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := map[bool]int{false: 1, true: 2}[readY]; runs != want {
			t.Errorf("read y %v: %d runs, want %d", readY, runs, want)
		}
	}
}
