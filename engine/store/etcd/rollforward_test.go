package etcd

import (
	"context"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/sysemu/sysemu/engine/store"
	"github.com/sysemu/sysemu/engine/store/etcd/etcdtest"
)

// TestRollForward: a writer that set its fence and died before applying its
// chunks leaves a committed transaction that the next one to start applies.
func TestRollForward(t *testing.T) {
	c := etcdtest.Start(t, 1, etcdtest.Options{NoFsync: true})
	cli := c.Client(t)
	s := New(cli, Options{Prefix: "/rf/"})
	ctx := context.Background()
	if err := s.Update(ctx, func(tx store.Tx) error { return tx.Put([]byte("old"), []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	// What commitStaged does up to its commit point, then "crash".
	chunks := [][]clientv3.Op{
		{clientv3.OpPut(s.data+"a", "1"), clientv3.OpPut(s.data+"b", "2")},
		{clientv3.OpDelete(s.data + "old"), clientv3.OpPut(s.tomb+"old", "")},
	}
	for i, ops := range chunks {
		var b []byte
		for _, op := range ops {
			b = append(b, encodeOp(op)...)
		}
		if _, err := cli.Put(ctx, s.stageKey("dead", i), string(b)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Put(ctx, s.fence, "dead/2"); err != nil {
		t.Fatal(err)
	}
	var got []string
	err := New(cli, Options{Prefix: "/rf/"}).View(ctx, func(tx store.Tx) error {
		return tx.Scan(nil, nil, false, func(k, v []byte) (bool, error) {
			got = append(got, string(k)+"="+string(v))
			return true, nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := "[a=1 b=2]"; fmtSlice(got) != want {
		t.Errorf("after roll forward: %v, want %s", got, want)
	}
	resp, err := cli.Get(ctx, "/rf/x/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 0 {
		t.Errorf("fence or staged chunks left: %d keys, first %q", len(resp.Kvs), resp.Kvs[0].Key)
	}
}

func fmtSlice(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
