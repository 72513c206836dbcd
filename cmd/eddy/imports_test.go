package main

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/eddy-video/eddy"

// layers ranks the top-level folders: a package may import its own
// folder's packages and those of lower ranks, never a sibling's (the same
// rank) or a higher one. cmd → server → {hls, webrtc, web} → fragments →
// {datastreams, media}.
var layers = map[string]int{
	"datastreams": 0, "media": 0,
	"fragments": 1,
	"hls":       2, "webrtc": 2, "web": 2,
	"server": 3,
	"cmd":    4,
	// examples are programs of their own that nothing imports; their
	// tests start a real server.
	"examples": 4,
}

// folderOf returns the top-level folder of one of the module's packages.
func folderOf(pkg string) (string, bool) {
	rest, ok := strings.CutPrefix(pkg, module+"/")
	if !ok {
		return "", false
	}
	folder, _, _ := strings.Cut(rest, "/")
	return folder, true
}

// TestImportDirection checks the floor plan on every package of the
// module, test files included, with `go list`: the import direction
// above, so that datastreams and media import nothing of Eddy's, hls and
// webrtc never import each other, and only cmd imports server. CI also
// checks it with golangci-lint's depguard (.golangci.yml).
// adapters are the playback adapters, which sit on fragments and do not
// skip it to reach datastreams.
var adapters = map[string]bool{"hls": true, "webrtc": true, "web": true}

func TestImportDirection(t *testing.T) {
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,TestImports,XTestImports", module+"/...")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p struct {
			ImportPath                         string
			Imports, TestImports, XTestImports []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		from, ok := folderOf(p.ImportPath)
		if !ok {
			continue
		}
		rank, known := layers[from]
		if !known {
			t.Errorf("%s: %q is not one of the fixed top-level folders", p.ImportPath, from)
			continue
		}
		checked++
		for _, imp := range p.Imports {
			if to, ok := folderOf(imp); ok && adapters[from] && to == "datastreams" {
				t.Errorf("%s imports %s: the playback adapters reach datastreams only through fragments (its tests may build a core)", p.ImportPath, imp)
			}
		}
		for _, imp := range append(append(p.Imports, p.TestImports...), p.XTestImports...) {
			to, ok := folderOf(imp)
			if !ok || to == from {
				continue
			}
			if r, ok := layers[to]; !ok || r >= rank {
				t.Errorf("%s imports %s: %s may import only folders below it (cmd → server → {hls, webrtc, web} → fragments → {datastreams, media})", p.ImportPath, imp, from)
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d packages checked", checked)
	}
}
