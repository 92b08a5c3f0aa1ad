package store

import (
	"context"
	"sync"
)

// Gate tracks a backend's running transactions and its closing: Enter
// admits a transaction unless ctx is done or the store is closed, Leave ends
// it, Close refuses new ones and waits for the running ones. Backends embed it.
type Gate struct {
	mu       sync.Mutex // guards closed and Add on inflight
	closed   bool
	inflight sync.WaitGroup
}

// Enter admits one transaction; the caller must Leave when it ends.
func (g *Gate) Enter(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return ErrClosed
	}
	g.inflight.Add(1)
	return nil
}

// Leave ends a transaction admitted by Enter.
func (g *Gate) Leave() { g.inflight.Done() }

// Close refuses new transactions and waits for the running ones. It reports
// false if the gate was already closed.
func (g *Gate) Close() bool {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return false
	}
	g.closed = true
	g.mu.Unlock()
	g.inflight.Wait()
	return true
}
