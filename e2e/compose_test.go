package e2e

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"sigs.k8s.io/yaml"
)

type composeFile struct {
	Services map[string]struct {
		Image       string            `json:"image"`
		Build       any               `json:"build"`
		Command     []string          `json:"command"`
		Environment map[string]string `json:"environment"`
		Ports       []string          `json:"ports"`
	} `json:"services"`
}

// TestComposeFile checks docker-compose.yml (no Docker engine runs here):
// three etcd members that name each other, and three sysemu nodes started
// with the flags the cluster tests use, on etcd's three client URLs, with
// MySQL on host ports 3306-3308 and HTTP on 4000-4002.
func TestComposeFile(t *testing.T) {
	root, err := binModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(root + "/docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cf composeFile
	if err := yaml.Unmarshal(b, &cf); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	built := 0
	for name, s := range cf.Services {
		if s.Build == nil {
			continue
		}
		built++
		b, _ := s.Build.(map[string]any)
		file, _ := b["dockerfile"].(string)
		if b["context"] != "." || file == "" {
			t.Fatalf("%s: build %v: want the repository root as context and a dockerfile", name, s.Build)
		}
		if df, err := os.ReadFile(root + "/" + file); err != nil || !strings.Contains(string(df), "./cmd/sysemu") {
			t.Errorf("%s: %s missing or not building ./cmd/sysemu: %v", name, file, err)
		}
	}
	if built != 3 {
		t.Errorf("%d services are built from the repository, want the 3 sysemu nodes", built)
	}

	var clientURLs, peers []string
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("etcd%d", i)
		s, ok := cf.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if !strings.Contains(s.Image, "etcd") {
			t.Errorf("%s: image %q is not etcd", name, s.Image)
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		n, client, peer := fs.String("name", "", ""), fs.String("advertise-client-urls", "", ""), fs.String("initial-advertise-peer-urls", "", "")
		if len(s.Command) < 1 || fs.Parse(s.Command[1:]) != nil || *n != name {
			t.Fatalf("%s: command %q: want etcd --name %s ...", name, s.Command, name)
		}
		clientURLs, peers = append(clientURLs, *client), append(peers, name+"="+*peer)
	}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("etcd%d", i)
		if got := cf.Services[name].Environment["ETCD_INITIAL_CLUSTER"]; got != strings.Join(peers, ",") {
			t.Errorf("%s: ETCD_INITIAL_CLUSTER = %q, want %q", name, got, strings.Join(peers, ","))
		}
	}

	// The flags the e2e cluster tests give every node.
	var want []string
	for _, a := range clusterNodeArgs([]string{"x"}, 1) {
		if strings.HasPrefix(a, "--") {
			want = append(want, strings.TrimPrefix(a, "--"))
		}
	}
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("sysemu%d", i)
		s, ok := cf.Services[name]
		if !ok {
			t.Fatalf("no service %s", name)
		}
		if s.Build == nil {
			t.Errorf("%s: not built from the repository's Dockerfile", name)
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		etcdEPs, mysqlAddr, httpAddr := fs.String("etcd", "", ""), fs.String("mysql-addr", "", ""), fs.String("http-addr", "", "")
		nodeID, ttl := fs.Uint64("node-id", 0, ""), fs.Duration("node-ttl", 0, "")
		if len(s.Command) < 1 || s.Command[0] != "serve" {
			t.Fatalf("%s: command %q: want serve ...", name, s.Command)
		}
		if err := fs.Parse(s.Command[1:]); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var set []string
		fs.Visit(func(f *flag.Flag) { set = append(set, f.Name) })
		for _, f := range want {
			if !slices.Contains(set, f) {
				t.Errorf("%s: flag --%s of the e2e cluster nodes missing", name, f)
			}
		}
		if *etcdEPs != strings.Join(clientURLs, ",") {
			t.Errorf("%s: --etcd %q, want the members' client URLs %q", name, *etcdEPs, strings.Join(clientURLs, ","))
		}
		if *nodeID != uint64(i) || *ttl < time.Second {
			t.Errorf("%s: --node-id %d --node-ttl %v, want %d and at least 1s", name, *nodeID, *ttl, i)
		}
		_, mp, _ := net.SplitHostPort(*mysqlAddr)
		_, hp, _ := net.SplitHostPort(*httpAddr)
		wantPorts := []string{fmt.Sprintf("%d:%s", 3305+i, mp), fmt.Sprintf("%d:%s", 3999+i, hp)}
		if !slices.Equal(s.Ports, wantPorts) {
			t.Errorf("%s: ports %q, want %q", name, s.Ports, wantPorts)
		}
	}
}
