package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/mem"
)

func TestTimedReportsEveryTransaction(t *testing.T) {
	var ops []string
	var failed int
	st := store.Timed(mem.New(), func(op string, d time.Duration, err error) {
		ops = append(ops, op)
		if err != nil {
			failed++
		}
	})
	ctx := context.Background()
	if err := st.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("k"), []byte("v")) }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := st.Update(ctx, func(tx store.Tx) error { return boom }); !errors.Is(err, boom) {
		t.Fatalf("error not passed through: %v", err)
	}
	var got []byte
	if err := st.View(ctx, func(tx store.Tx) (err error) { got, err = tx.Get([]byte("k")); return err }); err != nil || string(got) != "v" {
		t.Fatalf("view: %q %v", got, err)
	}
	if want := []string{"update", "update", "view"}; len(ops) != 3 || ops[0] != want[0] || ops[1] != want[1] || ops[2] != want[2] || failed != 1 {
		t.Fatalf("observed %v (failed %d)", ops, failed)
	}
}
