package engine

import (
	"bytes"
	"context"

	"github.com/sysemu/sysemu/engine/store"
)

// SaveUsers durably stores the SQL layer's serialized accounts and grants.
func (e *Engine) SaveUsers(ctx context.Context, data []byte) error {
	return e.st.Update(ctx, func(tx store.Tx) error { return tx.Put(usersKey, bytes.Clone(data)) })
}

// Users returns what SaveUsers stored last, or nil.
func (e *Engine) Users(ctx context.Context) ([]byte, error) {
	var b []byte
	err := e.st.View(ctx, func(tx store.Tx) error {
		var err error
		b, err = tx.Get(usersKey)
		return err
	})
	return b, err
}
