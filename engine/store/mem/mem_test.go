package mem_test

import (
	"testing"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/mem"
	"github.com/sysemu/sysemu/engine/store/storetest"
)

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T, dir string) store.Store { return mem.New() }, storetest.Options{})
}
