package engine

import (
	"context"
	"fmt"
)

// NextTableID returns the table-ID sequence's durable high-water mark, what
// GreptimeDB's GET /admin/sequence/table/next-id reports (peek()).
func (e *Engine) NextTableID() uint64 { return e.State().NextTableID() }

// SetNextTableID is GreptimeDB's set-next-id: allowed only in recovery mode,
// and only to a value strictly greater than the current high-water mark.
func (e *Engine) SetNextTableID(ctx context.Context, a Actor, next uint64) error {
	err := e.update(ctx, func(c *change) error {
		on, err := c.switchOn(SwitchRecovery)
		if err != nil {
			return err
		}
		if !on {
			return fmt.Errorf("%w: Unexpected, violated: Setting next table id is only allowed in recovery mode", ErrNotRecoveryMode)
		}
		seq := e.seqs[SeqTableID]
		old, cache, err := seq.jumpTo(c.tx, next)
		if err != nil {
			return err
		}
		c.caches[SeqTableID] = cache
		c.jumped = true
		c.event(a, EventSequenceJump, SeqTableID, int64(old), int64(next))
		return nil
	})
	if err == nil {
		e.log.WithFields(map[string]any{logSeq: SeqTableID, logNext: next, logUser: a.User}).Warn("sequence jumped")
	}
	return err
}

func (c *change) switchOn(name string) (bool, error) {
	b, err := c.tx.Get(switchKey(name))
	return b != nil, err
}

var switchEvents = map[string]string{
	SwitchRecovery:       EventRecoveryMode,
	SwitchPauseProcedure: EventProcedureManager,
	SwitchMaintenance:    EventMaintenance,
}

// SetSwitch turns a runtime switch on or off (the key exists while on).
func (e *Engine) SetSwitch(ctx context.Context, a Actor, name string, on bool) error {
	kind, ok := switchEvents[name]
	if !ok {
		return fmt.Errorf("%w: unknown switch %q", ErrInvalid, name)
	}
	return e.update(ctx, func(c *change) error {
		was, err := c.switchOn(name)
		if err != nil {
			return err
		}
		if on {
			err = c.tx.Put(switchKey(name), []byte{})
		} else {
			err = c.tx.Delete(switchKey(name))
		}
		if err != nil {
			return err
		}
		c.next.Switches[name] = on
		if was != on {
			c.event(a, kind, "", b2i(was), b2i(on))
		}
		return nil
	})
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// FaultSetSequence writes v as the stored value of the named sequence, even a
// value below IDs in use: the explicit unsafe path that scenario scripts use to
// reproduce a stale sequence. Every node's cache is dropped, as after a restart.
func (e *Engine) FaultSetSequence(ctx context.Context, a Actor, name string, v uint64) error {
	seq, ok := e.seqs[name]
	if !ok && name == SeqGstoNo {
		return e.faultSetCounter(ctx, a, name, v)
	}
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoSuchSequence, name)
	}
	err := e.update(ctx, func(c *change) error {
		old, err := seq.force(c.tx, v)
		if err != nil {
			return err
		}
		c.resets = true
		c.event(a, EventFault, name, int64(old), int64(v))
		return nil
	})
	if err == nil {
		e.log.WithFields(map[string]any{logSeq: name, logNext: v, logUser: a.User}).Warn("fault: sequence value forced")
	}
	return err
}

// faultSetCounter writes v as a store counter's next number, even one in use.
func (e *Engine) faultSetCounter(ctx context.Context, a Actor, name string, v uint64) error {
	return e.update(ctx, func(c *change) error {
		old := c.old.Sequences[name]
		if err := c.tx.Put(seqKey(name), le(v)); err != nil {
			return err
		}
		c.next.Sequences[name] = v
		c.event(a, EventFault, name, int64(old), int64(v))
		return nil
	})
}

// SetNextGstoNo raises the gsto_no sequence to next, which must be above
// every GSTO_NO in use and above its current value: store numbers are never
// lowered or reused.
func (e *Engine) SetNextGstoNo(ctx context.Context, a Actor, next uint64) error {
	return e.update(ctx, func(c *change) error {
		cur := c.old.Sequences[SeqGstoNo]
		var top uint64
		c.old.RangeGstores(0, 0, true, func(_ *Table, st *Store) bool { top = uint64(st.No); return false })
		if next <= top {
			return fmt.Errorf("%w: The next value %d is not greater than the highest gsto_no in use %d", ErrNotGreater, next, top)
		}
		if next <= cur {
			return fmt.Errorf("%w: The next value %d is not greater than the current next value %d", ErrNotGreater, next, cur)
		}
		if next > 1<<32-1 {
			return fmt.Errorf("%w: gsto_no %d is above 4294967295", ErrInvalid, next)
		}
		if err := c.tx.Put(seqKey(SeqGstoNo), le(next)); err != nil {
			return err
		}
		c.next.Sequences[SeqGstoNo] = next
		c.event(a, EventSequenceJump, SeqGstoNo, int64(cur), int64(next))
		return nil
	})
}
