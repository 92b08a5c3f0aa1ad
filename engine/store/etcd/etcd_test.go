package etcd_test

import (
	"testing"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/etcd"
	"github.com/sysemu/sysemu/engine/store/etcd/etcdtest"
	"github.com/sysemu/sysemu/engine/store/storetest"
)

// run runs the conformance suite on a real etcd of the given size; each
// store lives under a prefix named after its test directory, so reopening
// the same directory reopens the same data.
func run(t *testing.T, members int) {
	c := etcdtest.Start(t, members, etcdtest.Options{NoFsync: true})
	cli := c.Client(t)
	storetest.Run(t, func(t *testing.T, dir string) store.Store {
		return etcd.New(cli, etcd.Options{Prefix: "/test" + dir + "/"})
	}, storetest.Options{Durable: true})
}

func TestStoreOneMember(t *testing.T)    { run(t, 1) }
func TestStoreThreeMembers(t *testing.T) { run(t, 3) }
