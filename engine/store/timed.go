package store

import (
	"context"
	"time"
)

// Timed wraps s so that every transaction reports its duration (op is
// "view" or "update", err its outcome) to observe — for latency metrics.
func Timed(s Store, observe func(op string, d time.Duration, err error)) Store {
	return timed{s, observe}
}

type timed struct {
	Store
	observe func(op string, d time.Duration, err error)
}

func (t timed) View(ctx context.Context, fn func(tx Tx) error) error {
	start := time.Now()
	err := t.Store.View(ctx, fn)
	t.observe("view", time.Since(start), err)
	return err
}

func (t timed) Update(ctx context.Context, fn func(tx Tx) error) error {
	start := time.Now()
	err := t.Store.Update(ctx, fn)
	t.observe("update", time.Since(start), err)
	return err
}
