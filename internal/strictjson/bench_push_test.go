package strictjson

import (
	"os"
	"testing"
)

// BenchmarkDecodePush decodes a real 8 KB GitHub push delivery (the
// webhook package's test data) into the members a push classifier reads.
func BenchmarkDecodePush(b *testing.B) {
	doc, err := os.ReadFile("../webhook/testdata/payloads/push/tag-create.drone.json")
	if err != nil {
		b.Skip(err) // the webhook package's test data is not there
	}
	type login struct {
		Login string `json:"login"`
	}
	type push struct {
		Installation struct {
			ID int64 `json:"id"`
		} `json:"installation"`
		Ref        string `json:"ref"`
		After      string `json:"after"`
		Compare    string `json:"compare"`
		Deleted    bool   `json:"deleted"`
		Repository struct {
			FullName string `json:"full_name"`
			HTMLURL  string `json:"html_url"`
			CloneURL string `json:"clone_url"`
		} `json:"repository"`
		Sender     login `json:"sender"`
		HeadCommit struct {
			ID       string `json:"id"`
			Message  string `json:"message"`
			URL      string `json:"url"`
			Added    Array  `json:"added"`
			Modified Array  `json:"modified"`
			Removed  Array  `json:"removed"`
		} `json:"head_commit"`
		Commits Array `json:"commits"`
	}
	dec := NewDecoder[push]()
	b.SetBytes(int64(len(doc)))
	b.ReportAllocs()
	cpu0, n := processCPU(), 0
	for b.Loop() {
		var p push
		if err := dec.Decode(doc, &p); err != nil || p.Ref == "" {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(processCPU()-cpu0)/float64(n), "cpu-ns/op")
}
