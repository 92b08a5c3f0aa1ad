package e2e

import (
	"bytes"
	"encoding/json"
	"go/format"
	"io/fs"
	"os"
	clicmd "os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestVitessForkIsUpstreamPlusPatch checks that server/vitess, which go.mod
// puts in place of dolthub/vitess, is the required upstream version with
// exactly the changes in server/vitess/sysemu.patch: every file is upstream's
// byte for byte (Go files after gofmt), except the files the patch names,
// which are upstream's with the patch applied. So the fork can never drift from what SYSEMU_PATCHES.md
// documents, and moving to a newer vitess is a copy plus `git apply`.
func TestVitessForkIsUpstreamPlusPatch(t *testing.T) {
	root, err := binModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	fork := filepath.Join(root, "server", "vitess")

	var mod struct {
		Path, Version string
		Replace       *struct{ Path string }
	}
	goJSON(t, root, &mod, "list", "-m", "-json", "github.com/dolthub/vitess")
	if mod.Replace == nil || filepath.Clean(filepath.Join(root, mod.Replace.Path)) != fork {
		t.Fatalf("go.mod does not replace dolthub/vitess with ./server/vitess: %+v", mod.Replace)
	}
	var dl struct{ Dir, Error string }
	goJSON(t, root, &dl, "mod", "download", "-json", mod.Path+"@"+mod.Version)
	if dl.Dir == "" {
		t.Fatalf("go mod download %s@%s: %s", mod.Path, mod.Version, dl.Error)
	}
	upstream := dl.Dir

	patch, err := os.ReadFile(filepath.Join(fork, "sysemu.patch"))
	if err != nil {
		t.Fatal(err)
	}
	var patched []string
	for _, m := range regexp.MustCompile(`(?m)^diff --git a/(\S+) b/`).FindAllSubmatch(patch, -1) {
		patched = append(patched, string(m[1]))
	}
	if len(patched) == 0 {
		t.Fatal("sysemu.patch names no file")
	}

	// Upstream's versions of the patched files, with the patch applied.
	applied := t.TempDir()
	for _, f := range patched {
		b, err := os.ReadFile(filepath.Join(upstream, f))
		if err != nil {
			t.Fatalf("patched file not upstream: %v", err)
		}
		dst := filepath.Join(applied, f)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := clicmd.Command("git", "apply", "-p1", filepath.Join(fork, "sysemu.patch"))
	cmd.Dir = applied
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git apply sysemu.patch to upstream %s: %v\n%s", mod.Version, err, out)
	}

	files := 0
	err = filepath.WalkDir(fork, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(fork, path)
		if rel == "SYSEMU_PATCHES.md" || rel == "sysemu.patch" {
			return nil
		}
		files++
		want := filepath.Join(upstream, rel)
		if slices.Contains(patched, rel) {
			want = filepath.Join(applied, rel)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		exp, err := os.ReadFile(want)
		if err != nil {
			t.Errorf("%s: not in upstream %s", rel, mod.Version)
			return nil
		}
		if strings.HasSuffix(rel, ".go") {
			// Kept gofmt-clean like the rest of the repository: upstream's
			// older doc-comment layout is reformatted, nothing else.
			if exp, err = format.Source(exp); err != nil {
				t.Errorf("%s: %v", rel, err)
				return nil
			}
		}
		if !bytes.Equal(got, exp) {
			t.Errorf("%s differs from upstream %s plus sysemu.patch", rel, mod.Version)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d files checked against %s@%s; %d patched: %v", files, mod.Path, mod.Version, len(patched), patched)
}

// goJSON runs the go command in dir and decodes its JSON output into v.
func goJSON(t *testing.T, dir string, v any, args ...string) {
	t.Helper()
	cmd := clicmd.Command("go", args...)
	cmd.Dir = dir
	out, err := cmd.Output()
	if jerr := json.Unmarshal(out, v); jerr != nil {
		t.Fatalf("go %v: %v %v\n%s", args, err, jerr, out)
	}
}
