// Package storetest is the conformance suite every store.Store backend must
// pass. A backend's tests call Run with a function that opens the backend.
//
// Beyond what store.go spells out, the suite pins down these behaviours:
//   - A panic in Update's fn propagates out of Update with the original panic
//     value (it is not turned into an error), and nothing fn wrote is visible.
//     The same holds for runtime.Goexit (t.FailNow) in fn.
//   - Update and View fail with ctx's error (by errors.Is) without calling fn
//     when ctx is done before the call, and Update fails so too, committing
//     nothing, when ctx is done by the time fn returns.
//   - Scan tolerates Put and Delete made by its own fn: keys deleted during the
//     scan are not visited again and no key still present is skipped.
//   - Close may be called more than once.
package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sysemu/sysemu/engine/store"
)

// OpenFunc opens the store persisted in dir, or reopens it if it was opened
// (and closed) before. Backends that are not durable may ignore dir.
type OpenFunc func(t *testing.T, dir string) store.Store

// Options describes the backend under test.
type Options struct {
	// Durable reports that a store reopened from the same dir sees everything
	// committed before Close. Persistence tests are skipped otherwise.
	Durable bool
}

// Run runs the conformance suite against the backend opened by open. Every
// subtest uses its own t.TempDir().
func Run(t *testing.T, open OpenFunc, opts Options) {
	s := suite{open: open, opts: opts}
	tests := []struct {
		name string
		fn   func(t *testing.T)
	}{
		{"Basics", s.testBasics},
		{"Scan", s.testScan},
		{"ScanPrefix", s.testScanPrefix},
		{"ScanStopAndError", s.testScanStopAndError},
		{"ScanWhileWriting", s.testScanWhileWriting},
		{"ScanAfterDeletes", s.testScanAfterDeletes},
		{"ReadYourWrites", s.testReadYourWrites},
		{"FailedUpdate", s.testFailedUpdate},
		{"PanickingUpdate", s.testPanickingUpdate},
		{"GoexitInUpdate", s.testGoexitInUpdate},
		{"CancelledUpdate", s.testCancelledUpdate},
		{"ConcurrentFailures", s.testConcurrentFailures},
		{"ReadOnlyView", s.testReadOnlyView},
		{"ViewSnapshot", s.testViewSnapshot},
		{"ConcurrentIncrements", s.testConcurrentIncrements},
		{"IncrementsSeenOnce", s.testIncrementsSeenOnce},
		{"Closed", s.testClosed},
		{"Reopen", s.testReopen},
		{"BigTransaction", s.testBigTransaction},
	}
	for _, tc := range tests {
		t.Run(tc.name, tc.fn)
	}
}

type suite struct {
	open OpenFunc
	opts Options
}

// newStore opens a store in a fresh directory and closes it when t ends.
func (s suite) newStore(t *testing.T) store.Store {
	t.Helper()
	return s.openIn(t, t.TempDir())
}

func (s suite) openIn(t *testing.T, dir string) store.Store {
	t.Helper()
	st := s.open(t, dir)
	t.Cleanup(func() {
		if err := st.Close(); err != nil && !errors.Is(err, store.ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return st
}

var ctx = context.Background()

// kv is one key-value pair of the model the tests compare against.
type kv struct{ k, v string }

// put commits the pairs in one transaction.
func put(t *testing.T, st store.Store, pairs ...kv) {
	t.Helper()
	err := st.Update(ctx, func(tx store.Tx) error {
		for _, p := range pairs {
			if err := tx.Put([]byte(p.k), []byte(p.v)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// get reads key in its own View; ok reports whether it is present.
func get(t *testing.T, st store.Store, key string) (v string, ok bool) {
	t.Helper()
	err := st.View(ctx, func(tx store.Tx) error {
		b, err := tx.Get([]byte(key))
		v, ok = string(b), b != nil
		return err
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return v, ok
}

// scan collects the pairs tx.Scan visits.
func scan(tx store.Tx, start, end []byte, reverse bool) ([]kv, error) {
	var out []kv
	err := tx.Scan(start, end, reverse, func(k, v []byte) (bool, error) {
		out = append(out, kv{string(k), string(v)})
		return true, nil
	})
	return out, err
}

// all returns every committed pair in ascending order.
func all(t *testing.T, st store.Store) []kv {
	t.Helper()
	var out []kv
	err := st.View(ctx, func(tx store.Tx) (err error) {
		out, err = scan(tx, nil, nil, false)
		return err
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	return out
}

func (s suite) testBasics(t *testing.T) {
	st := s.newStore(t)
	if v, ok := get(t, st, "a"); ok {
		t.Fatalf("empty store: Get(a) = %q, want absent", v)
	}
	put(t, st, kv{"a", "1"}, kv{"b", ""}, kv{"c", "3"})

	var kept []byte
	err := st.View(ctx, func(tx store.Tx) error {
		for _, c := range []struct {
			key  string
			want []byte // nil means absent
		}{{"a", []byte("1")}, {"b", []byte{}}, {"c", []byte("3")}, {"d", nil}, {"", nil}, {"a\x00", nil}} {
			got, err := tx.Get([]byte(c.key))
			if err != nil {
				return fmt.Errorf("Get(%q): %w", c.key, err)
			}
			if (got == nil) != (c.want == nil) || !bytes.Equal(got, c.want) {
				t.Errorf("Get(%q) = %#v, want %#v", c.key, got, c.want)
			}
		}
		v, err := tx.Get([]byte("c"))
		kept = bytes.Clone(v)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if string(kept) != "3" {
		t.Errorf("copied Get result after View = %q, want %q", kept, "3")
	}

	// Overwrite, delete, delete an absent key, and make an empty value absent.
	err = st.Update(ctx, func(tx store.Tx) error {
		return errors.Join(
			tx.Put([]byte("a"), []byte("one")),
			tx.Delete([]byte("b")),
			tx.Delete([]byte("nope")),
			tx.Put([]byte("e"), nil),
		)
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := []kv{{"a", "one"}, {"c", "3"}, {"e", ""}}
	if got := all(t, st); !slices.Equal(got, want) {
		t.Errorf("after overwrite/delete: %v, want %v", got, want)
	}
	if v, ok := get(t, st, "e"); !ok || v != "" {
		t.Errorf("Get(e) after Put(e, nil) = %q, %v; want empty and present", v, ok)
	}

	// The caller's buffers may be reused after Put returns.
	key, val := []byte("k"), []byte("v1")
	err = st.Update(ctx, func(tx store.Tx) error {
		err := tx.Put(key, val)
		key[0], val[1] = 'x', '9'
		return err
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if v, ok := get(t, st, "k"); !ok || v != "v1" {
		t.Errorf("Get(k) after reusing Put's buffers = %q, %v; want %q", v, ok, "v1")
	}
	if _, ok := get(t, st, "x"); ok {
		t.Errorf("key x present after reusing Put's key buffer")
	}
}

// scanKeys is a key set with awkward bytes for the range and prefix tests.
var scanKeys = []string{
	"\x00", "\x00\x00", "\x00\xff", "\x01", "\x01\x00", "\x01\xff", "\x01\xff\x00",
	"\x01\xff\xff", "\x02", "a", "ab", "abc", "abd", "ac", "b",
	"\xfe\xff", "\xff", "\xff\x00", "\xff\xfe", "\xff\xff", "\xff\xff\x00", "\xff\xff\xff",
}

func fillScanKeys(t *testing.T, st store.Store) {
	t.Helper()
	var pairs []kv
	for i, k := range scanKeys {
		pairs = append(pairs, kv{k, fmt.Sprint(i)})
	}
	rand.Shuffle(len(pairs), func(i, j int) { pairs[i], pairs[j] = pairs[j], pairs[i] })
	put(t, st, pairs...)
}

// model returns the scanKeys pairs in [start, end) that match keep, ordered.
func model(start, end []byte, reverse bool, keep func(k string) bool) []kv {
	var out []kv
	for i, k := range scanKeys {
		if bytes.Compare([]byte(k), start) >= 0 && (end == nil || bytes.Compare([]byte(k), end) < 0) && keep(k) {
			out = append(out, kv{k, fmt.Sprint(i)})
		}
	}
	slices.SortFunc(out, func(a, b kv) int { return bytes.Compare([]byte(a.k), []byte(b.k)) })
	if reverse {
		slices.Reverse(out)
	}
	return out
}

func (s suite) testScan(t *testing.T) {
	st := s.newStore(t)
	fillScanKeys(t, st)
	bounds := [][]byte{nil, {}, {0}, {0, 0}, {1}, {1, 0xff}, {1, 0xff, 0xff, 0xff}, []byte("a"),
		[]byte("abc"), []byte("abcd"), []byte("b"), []byte("zzz"), {0xff}, {0xff, 0xff}, {0xff, 0xff, 0xff, 0xff}}
	err := st.View(ctx, func(tx store.Tx) error {
		for _, start := range bounds {
			for _, end := range bounds {
				for _, reverse := range []bool{false, true} {
					got, err := scan(tx, start, end, reverse)
					if err != nil {
						return err
					}
					want := model(start, end, reverse, func(string) bool { return true })
					if !slices.Equal(got, want) {
						t.Errorf("Scan(%q, %q, reverse=%v) = %q, want %q", start, end, reverse, got, want)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (s suite) testScanPrefix(t *testing.T) {
	st := s.newStore(t)
	fillScanKeys(t, st)
	prefixes := [][]byte{{0}, {1}, {1, 0xff}, {1, 0xff, 0xff}, []byte("a"), []byte("ab"), []byte("abc"),
		[]byte("c"), {0xfe}, {0xff}, {0xff, 0xff}, {0xff, 0xff, 0xff}, {0xff, 0xff, 0xff, 0xff}}
	err := st.View(ctx, func(tx store.Tx) error {
		for _, p := range prefixes {
			for _, reverse := range []bool{false, true} {
				got, err := scan(tx, p, store.PrefixEnd(p), reverse)
				if err != nil {
					return err
				}
				want := model(p, nil, reverse, func(k string) bool { return bytes.HasPrefix([]byte(k), p) })
				if !slices.Equal(got, want) {
					t.Errorf("prefix scan %q (reverse=%v) = %q, want %q", p, reverse, got, want)
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (s suite) testScanStopAndError(t *testing.T) {
	st := s.newStore(t)
	fillScanKeys(t, st)
	errStop := errors.New("stop here")
	err := st.View(ctx, func(tx store.Tx) error {
		for _, reverse := range []bool{false, true} {
			var n int
			err := tx.Scan(nil, nil, reverse, func(k, v []byte) (bool, error) {
				n++
				return n < 3, nil
			})
			if err != nil || n != 3 {
				t.Errorf("reverse=%v: stopping after 3 keys: visited %d, err %v; want 3, nil", reverse, n, err)
			}
			n = 0
			err = tx.Scan(nil, nil, reverse, func(k, v []byte) (bool, error) {
				n++
				if n == 2 {
					return true, errStop
				}
				return true, nil
			})
			if !errors.Is(err, errStop) || n != 2 {
				t.Errorf("reverse=%v: failing on key 2: visited %d, err %v; want 2, %v", reverse, n, err, errStop)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func (s suite) testScanWhileWriting(t *testing.T) {
	st := s.newStore(t)
	var pairs []kv
	for i := range 300 {
		pairs = append(pairs, kv{fmt.Sprintf("k%04d", i), "v"})
	}
	for _, reverse := range []bool{false, true} {
		put(t, st, pairs...)
		var visited int
		err := st.Update(ctx, func(tx store.Tx) error {
			visited = 0
			return tx.Scan([]byte("k"), store.PrefixEnd([]byte("k")), reverse, func(k, v []byte) (bool, error) {
				visited++
				key := bytes.Clone(k)
				// Rewrite the visited key, delete it, and delete its successor
				// in scan order when that is odd: nothing present is skipped.
				if err := tx.Put(key, []byte("overwritten")); err != nil {
					return false, err
				}
				if err := tx.Delete(key); err != nil {
					return false, err
				}
				i, err := strconv.Atoi(string(key[1:]))
				if err != nil {
					return false, err
				}
				if reverse {
					i--
				} else {
					i++
				}
				if i%2 == 1 {
					return true, tx.Delete(fmt.Appendf(nil, "k%04d", i))
				}
				return true, nil
			})
		})
		if err != nil {
			t.Fatalf("reverse=%v: Update: %v", reverse, err)
		}
		if got := all(t, st); len(got) != 0 {
			t.Errorf("reverse=%v: %d keys left after deleting while scanning, first %q", reverse, len(got), got[0])
		}
		// Forward visits the even keys; reverse visits the last key and then
		// the even ones.
		want := len(pairs) / 2
		if reverse {
			want++
		}
		if visited != want {
			t.Errorf("reverse=%v: visited %d keys, want %d", reverse, visited, want)
		}
	}
}

// testScanAfterDeletes scans in a transaction that has deleted long runs of
// keys (in bbolt: whole leaves, which stay empty until the commit).
func (s suite) testScanAfterDeletes(t *testing.T) {
	st := s.newStore(t)
	const n = 3000
	key := func(i int) []byte { return fmt.Appendf(nil, "k%05d", i) }
	var pairs []kv
	for i := range n {
		pairs = append(pairs, kv{string(key(i)), strings.Repeat("v", 20)})
	}
	put(t, st, pairs...)
	// Each step deletes keys [from, to) and then checks scans over several
	// ranges in both directions against the keys left.
	steps := []struct{ from, to int }{{1000, 2000}, {0, 500}, {2500, n}, {500, 1000}, {2000, 2500}}
	err := st.Update(ctx, func(tx store.Tx) error {
		left := make([]bool, n)
		for i := range left {
			left[i] = true
		}
		for _, step := range steps {
			for i := step.from; i < step.to; i++ {
				if err := tx.Delete(key(i)); err != nil {
					return err
				}
				left[i] = false
			}
			bounds := []int{-1, 0, 250, 500, 999, 1000, 1500, 2000, 2001, 2500, 2999, n}
			for _, lo := range bounds {
				for _, hi := range bounds {
					var start, end []byte
					if lo >= 0 {
						start = key(lo)
					}
					if hi < n {
						end = key(hi)
					}
					for _, reverse := range []bool{false, true} {
						var want []kv
						for i := max(lo, 0); i < hi; i++ {
							if left[i] {
								want = append(want, pairs[i])
							}
						}
						if reverse {
							slices.Reverse(want)
						}
						got, err := scan(tx, start, end, reverse)
						if err != nil {
							return err
						}
						if !slices.Equal(got, want) {
							t.Errorf("after deleting [%d, %d): Scan(%q, %q, reverse=%v) got %d keys, want %d",
								step.from, step.to, start, end, reverse, len(got), len(want))
						}
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := all(t, st); len(got) != 0 {
		t.Errorf("after deleting everything: %d keys left", len(got))
	}
}

func (s suite) testReadYourWrites(t *testing.T) {
	st := s.newStore(t)
	put(t, st, kv{"a", "1"}, kv{"c", "3"}, kv{"e", "5"})
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := errors.Join(
			tx.Put([]byte("b"), []byte("2")),
			tx.Put([]byte("a"), []byte("one")),
			tx.Delete([]byte("c")),
			tx.Put([]byte("f"), []byte{}),
		); err != nil {
			return err
		}
		for key, want := range map[string][]byte{"a": []byte("one"), "b": []byte("2"), "c": nil, "e": []byte("5"), "f": {}} {
			got, err := tx.Get([]byte(key))
			if err != nil {
				return err
			}
			if (got == nil) != (want == nil) || !bytes.Equal(got, want) {
				t.Errorf("in Update: Get(%q) = %#v, want %#v", key, got, want)
			}
		}
		want := []kv{{"a", "one"}, {"b", "2"}, {"e", "5"}, {"f", ""}}
		for _, reverse := range []bool{false, true} {
			got, err := scan(tx, nil, nil, reverse)
			if err != nil {
				return err
			}
			if reverse {
				slices.Reverse(got)
			}
			if !slices.Equal(got, want) {
				t.Errorf("in Update: Scan(reverse=%v) = %q, want %q", reverse, got, want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []kv{{"a", "one"}, {"b", "2"}, {"e", "5"}, {"f", ""}}
	if got := all(t, st); !slices.Equal(got, want) {
		t.Errorf("after commit: %q, want %q", got, want)
	}
}

// scribble overwrites and adds keys, so that a leaked write is noticed.
func scribble(tx store.Tx) error {
	return errors.Join(
		tx.Put([]byte("a"), []byte("scribbled")),
		tx.Delete([]byte("b")),
		tx.Put([]byte("new"), []byte("scribbled")),
	)
}

var base = []kv{{"a", "1"}, {"b", "2"}}

func (s suite) testFailedUpdate(t *testing.T) {
	st := s.newStore(t)
	put(t, st, base...)
	errFail := errors.New("fn failed")
	err := st.Update(ctx, func(tx store.Tx) error {
		if err := scribble(tx); err != nil {
			return err
		}
		return errFail
	})
	if !errors.Is(err, errFail) {
		t.Errorf("Update = %v, want %v", err, errFail)
	}
	if got := all(t, st); !slices.Equal(got, base) {
		t.Errorf("after failed Update: %q, want %q", got, base)
	}
}

type panicValue struct{ msg string }

func (s suite) testPanickingUpdate(t *testing.T) {
	st := s.newStore(t)
	put(t, st, base...)
	want := &panicValue{"boom"}
	var got any
	func() {
		defer func() { got = recover() }()
		_ = st.Update(ctx, func(tx store.Tx) error {
			if err := scribble(tx); err != nil {
				return err
			}
			panic(want)
		})
	}()
	if got != want {
		t.Errorf("recovered %v from Update, want the panic value %v", got, want)
	}
	if got := all(t, st); !slices.Equal(got, base) {
		t.Errorf("after panicking Update: %q, want %q", got, base)
	}
	// The store still works.
	put(t, st, kv{"c", "3"})
	if v, _ := get(t, st, "c"); v != "3" {
		t.Errorf("Get(c) after panic = %q, want 3", v)
	}
}

func (s suite) testGoexitInUpdate(t *testing.T) {
	st := s.newStore(t)
	put(t, st, base...)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = st.Update(ctx, func(tx store.Tx) error {
			if err := scribble(tx); err != nil {
				return err
			}
			runtime.Goexit()
			return nil
		})
		t.Errorf("Update returned after runtime.Goexit in fn")
	}()
	<-done
	if got := all(t, st); !slices.Equal(got, base) {
		t.Errorf("after runtime.Goexit in Update: %q, want %q", got, base)
	}
	put(t, st, kv{"c", "3"})
	if v, _ := get(t, st, "c"); v != "3" {
		t.Errorf("Get(c) after runtime.Goexit = %q, want 3", v)
	}
}

func (s suite) testCancelledUpdate(t *testing.T) {
	st := s.newStore(t)
	put(t, st, base...)

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	called := false
	err := st.Update(cctx, func(tx store.Tx) error {
		called = true
		return scribble(tx)
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a cancelled ctx = %v, want %v", err, context.Canceled)
	}
	if called {
		t.Errorf("Update with a cancelled ctx called fn")
	}
	err = st.View(cctx, func(tx store.Tx) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("View with a cancelled ctx = %v, want %v", err, context.Canceled)
	}

	cctx, cancel = context.WithCancel(ctx)
	err = st.Update(cctx, func(tx store.Tx) error {
		err := scribble(tx)
		cancel()
		return err
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update cancelled during fn = %v, want %v", err, context.Canceled)
	}
	if got := all(t, st); !slices.Equal(got, base) {
		t.Errorf("after cancelled Updates: %q, want %q", got, base)
	}
}

// testConcurrentFailures mixes failing, panicking and cancelled Updates with
// good ones, so that a backend that groups commits shows it keeps them apart.
func (s suite) testConcurrentFailures(t *testing.T) {
	st := s.newStore(t)
	const n = 64
	errFail := errors.New("fn failed")
	var wg sync.WaitGroup
	results := make([]any, n)
	for i := range n {
		wg.Go(func() {
			key := fmt.Appendf(nil, "k%02d", i)
			cctx, cancel := context.WithCancel(ctx)
			defer cancel()
			defer func() {
				if p := recover(); p != nil {
					results[i] = p
				}
			}()
			results[i] = st.Update(cctx, func(tx store.Tx) error {
				if err := tx.Put(key, []byte("v")); err != nil {
					return err
				}
				switch i % 4 {
				case 1:
					return errFail
				case 2:
					panic(i)
				case 3:
					cancel()
				}
				return nil
			})
		})
	}
	wg.Wait()
	var want []kv
	for i, r := range results {
		switch i % 4 {
		case 0:
			if r != nil {
				t.Errorf("good Update %d = %v, want nil", i, r)
			}
			want = append(want, kv{fmt.Sprintf("k%02d", i), "v"})
		case 1:
			if err, _ := r.(error); !errors.Is(err, errFail) {
				t.Errorf("failing Update %d = %v, want %v", i, r, errFail)
			}
		case 2:
			if r != i {
				t.Errorf("panicking Update %d = %v, want panic(%d)", i, r, i)
			}
		case 3:
			if err, _ := r.(error); !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled Update %d = %v, want %v", i, r, context.Canceled)
			}
		}
	}
	if got := all(t, st); !slices.Equal(got, want) {
		t.Errorf("after concurrent Updates: %q, want %q", got, want)
	}
}

func (s suite) testReadOnlyView(t *testing.T) {
	st := s.newStore(t)
	put(t, st, base...)
	err := st.View(ctx, func(tx store.Tx) error {
		if err := tx.Put([]byte("a"), []byte("x")); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Put in View = %v, want %v", err, store.ErrReadOnly)
		}
		if err := tx.Delete([]byte("b")); !errors.Is(err, store.ErrReadOnly) {
			t.Errorf("Delete in View = %v, want %v", err, store.ErrReadOnly)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := all(t, st); !slices.Equal(got, base) {
		t.Errorf("after writes in View: %q, want %q", got, base)
	}
}

func (s suite) testViewSnapshot(t *testing.T) {
	st := s.newStore(t)
	put(t, st, base...)
	done := make(chan error, 1)
	err := st.View(ctx, func(tx store.Tx) error {
		before, err := scan(tx, nil, nil, false)
		if err != nil {
			return err
		}
		go func() {
			done <- st.Update(ctx, func(tx store.Tx) error { return scribble(tx) })
		}()
		// A backend may make the writer wait for this reader (bbolt does when
		// the commit has to grow its memory map); don't wait for it forever.
		select {
		case err := <-done:
			done <- err
		case <-time.After(2 * time.Second):
			t.Logf("Update did not commit during the View; checking the snapshot anyway")
		}
		after, err := scan(tx, nil, nil, false)
		if err != nil {
			return err
		}
		if !slices.Equal(before, base) || !slices.Equal(after, base) {
			t.Errorf("View saw %q, then %q after a concurrent Update; want %q both times", before, after, base)
		}
		v, err := tx.Get([]byte("new"))
		if v != nil || err != nil {
			t.Errorf("View: Get(new) after a concurrent Update = %q, %v; want nil, nil", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("concurrent Update: %v", err)
	}
	want := []kv{{"a", "scribbled"}, {"new", "scribbled"}}
	if got := all(t, st); !slices.Equal(got, want) {
		t.Errorf("after the View: %q, want %q", got, want)
	}
}

const (
	workers   = 32
	increment = 200
)

var counterKey = []byte("counter")

// incr adds one to the big-endian counter at counterKey and returns the value
// it read.
func incr(tx store.Tx) (uint64, error) {
	b, err := tx.Get(counterKey)
	if err != nil {
		return 0, err
	}
	var n uint64
	if b != nil {
		if len(b) != 8 {
			return 0, fmt.Errorf("counter is %d bytes, want 8", len(b))
		}
		n = binary.BigEndian.Uint64(b)
	}
	return n, tx.Put(counterKey, binary.BigEndian.AppendUint64(nil, n+1))
}

func readCounter(t *testing.T, st store.Store) uint64 {
	t.Helper()
	v, ok := get(t, st, string(counterKey))
	if !ok || len(v) != 8 {
		t.Fatalf("counter = %q, %v; want 8 bytes", v, ok)
	}
	return binary.BigEndian.Uint64([]byte(v))
}

func (s suite) testConcurrentIncrements(t *testing.T) {
	st := s.newStore(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for range increment {
				err := st.Update(ctx, func(tx store.Tx) error {
					_, err := incr(tx)
					return err
				})
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
		t.Errorf("Update: %v", err)
	}
	if got := readCounter(t, st); got != workers*increment {
		t.Errorf("counter = %d, want %d", got, workers*increment)
	}
}

func (s suite) testIncrementsSeenOnce(t *testing.T) {
	st := s.newStore(t)
	const workers, increment = 16, 50
	var wg sync.WaitGroup
	seen := make([][]uint64, workers)
	for w := range workers {
		wg.Go(func() {
			for range increment {
				var read uint64
				err := st.Update(ctx, func(tx store.Tx) (err error) {
					// fn may run more than once: only the last run commits.
					read, err = incr(tx)
					return err
				})
				if err != nil {
					t.Errorf("Update: %v", err)
					return
				}
				seen[w] = append(seen[w], read)
			}
		})
	}
	wg.Wait()
	by := map[uint64]int{}
	for w, vals := range seen {
		if !slices.IsSorted(vals) {
			t.Errorf("worker %d saw the counter go backwards: %v", w, vals)
		}
		for _, v := range vals {
			if prev, dup := by[v]; dup {
				t.Errorf("counter value %d seen by workers %d and %d", v, prev, w)
			}
			by[v] = w
		}
	}
	for v := range uint64(workers * increment) {
		if _, ok := by[v]; !ok {
			t.Errorf("no worker saw counter value %d", v)
		}
	}
	if got := readCounter(t, st); got != workers*increment {
		t.Errorf("counter = %d, want %d", got, workers*increment)
	}
}

func (s suite) testClosed(t *testing.T) {
	st := s.newStore(t)
	put(t, st, base...)
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	called := false
	fn := func(tx store.Tx) error { called = true; return nil }
	if err := st.View(ctx, fn); !errors.Is(err, store.ErrClosed) {
		t.Errorf("View after Close = %v, want %v", err, store.ErrClosed)
	}
	if err := st.Update(ctx, fn); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Update after Close = %v, want %v", err, store.ErrClosed)
	}
	if called {
		t.Errorf("fn called after Close")
	}
	if err := st.Close(); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func (s suite) testReopen(t *testing.T) {
	if !s.opts.Durable {
		t.Skip("backend is not durable")
	}
	dir := t.TempDir()
	st := s.openIn(t, dir)
	var want []kv
	for i := range 50 {
		var pairs []kv
		for j := range 40 {
			pairs = append(pairs, kv{fmt.Sprintf("key-%03d-%03d", i, j), fmt.Sprintf("value %d", i*j)})
		}
		put(t, st, pairs...)
		want = append(want, pairs...)
	}
	put(t, st, kv{"empty", ""})
	err := st.Update(ctx, func(tx store.Tx) error { return tx.Delete([]byte("key-000-000")) })
	if err != nil {
		t.Fatal(err)
	}
	want = append(want[1:], kv{"empty", ""})
	slices.SortFunc(want, func(a, b kv) int { return bytes.Compare([]byte(a.k), []byte(b.k)) })
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for range 2 {
		st = s.openIn(t, dir)
		if got := all(t, st); !slices.Equal(got, want) {
			t.Fatalf("after reopening: %d keys, want %d", len(got), len(want))
		}
		if v, ok := get(t, st, "empty"); !ok || v != "" {
			t.Errorf("after reopening: Get(empty) = %q, %v; want empty and present", v, ok)
		}
		if err := st.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func (s suite) testBigTransaction(t *testing.T) {
	st := s.newStore(t)
	const n = 20000
	perm := rand.Perm(n)
	key := func(i int) []byte { return fmt.Appendf(nil, "big/%06d", i) }
	err := st.Update(ctx, func(tx store.Tx) error {
		for _, i := range perm {
			if err := tx.Put(key(i), bytes.Repeat([]byte{byte(i)}, i%64)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	check := func(keep func(i int) bool) {
		t.Helper()
		err := st.View(ctx, func(tx store.Tx) error {
			for _, reverse := range []bool{false, true} {
				var want []int
				for i := range n {
					if keep(i) {
						want = append(want, i)
					}
				}
				if reverse {
					slices.Reverse(want)
				}
				pos := 0
				err := tx.Scan([]byte("big/"), store.PrefixEnd([]byte("big/")), reverse, func(k, v []byte) (bool, error) {
					if pos >= len(want) {
						return false, fmt.Errorf("extra key %q", k)
					}
					i := want[pos]
					if !bytes.Equal(k, key(i)) || !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, i%64)) {
						return false, fmt.Errorf("reverse=%v: key %d is %q=%x, want %q", reverse, pos, k, v, key(i))
					}
					pos++
					return true, nil
				})
				if err != nil {
					return err
				}
				if pos != len(want) {
					return fmt.Errorf("reverse=%v: scanned %d keys, want %d", reverse, pos, len(want))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check(func(int) bool { return true })

	err = st.Update(ctx, func(tx store.Tx) error {
		for _, i := range perm {
			if i%3 != 0 {
				if err := tx.Delete(key(i)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	check(func(i int) bool { return i%3 == 0 })
}
