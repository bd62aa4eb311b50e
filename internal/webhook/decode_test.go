package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"

	"github.com/promobot/promobot/internal/strictjson"
)

// pushRef is what encoding/json reads of a push into structs shaped like
// pushEvent, with the lists decoded: the reference the one-pass decoding
// must agree with.
type pushRef struct {
	Ref          string `json:"ref"`
	After        string `json:"after"`
	Compare      string `json:"compare"`
	Deleted      bool   `json:"deleted"`
	Installation *struct {
		ID int64 `json:"id"`
	} `json:"installation"`
	Repository *struct {
		FullName string `json:"full_name"`
		HTMLURL  string `json:"html_url"`
		CloneURL string `json:"clone_url"`
	} `json:"repository"`
	Sender *struct {
		Login string `json:"login"`
	} `json:"sender"`
	HeadCommit *struct {
		ID       string   `json:"id"`
		Message  string   `json:"message"`
		URL      string   `json:"url"`
		Added    []string `json:"added"`
		Modified []string `json:"modified"`
		Removed  []string `json:"removed"`
	} `json:"head_commit"`
	Commits []commit `json:"commits"`
}

// pushView is every value classification reads of a push, flat.
type pushView struct {
	Ref, After, Compare            string
	Deleted                        bool
	Installation                   int64
	Repo, HTMLURL, CloneURL, Login string
	HeadID, Message, URL           string
	Added, Modified, Removed       []string
	Commits                        []commit
}

func (r pushRef) view() pushView {
	v := pushView{Ref: r.Ref, After: r.After, Compare: r.Compare, Deleted: r.Deleted, Commits: r.Commits}
	if r.Installation != nil {
		v.Installation = r.Installation.ID
	}
	if r.Repository != nil {
		v.Repo, v.HTMLURL, v.CloneURL = r.Repository.FullName, r.Repository.HTMLURL, r.Repository.CloneURL
	}
	if r.Sender != nil {
		v.Login = r.Sender.Login
	}
	if h := r.HeadCommit; h != nil {
		v.HeadID, v.Message, v.URL, v.Added, v.Modified, v.Removed = h.ID, h.Message, h.URL, h.Added, h.Modified, h.Removed
	}
	return v
}

var pushDecoder = strictjson.NewDecoder[pushEvent]()

// captureView is what the one-pass decoding reads of b, lists included.
func captureView(t testing.TB, b []byte) (pushView, error) {
	t.Helper()
	var ev pushEvent
	if err := pushDecoder.Decode(b, &ev); err != nil {
		if !errors.Is(err, strictjson.ErrType) {
			t.Fatalf("the decoder refused what Check accepted: %v", err)
		}
		return pushView{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	v := pushView{
		Ref: ev.Ref, After: ev.After, Compare: ev.Compare,
		Deleted: ev.Deleted, Installation: ev.Installation.ID,
		Repo: ev.Repository.FullName, HTMLURL: ev.Repository.HTMLURL, CloneURL: ev.Repository.CloneURL,
		Login: ev.Sender.Login, HeadID: ev.HeadCommit.ID, Message: ev.HeadCommit.Message, URL: ev.HeadCommit.URL,
	}
	head, commits, err := changes(&ev)
	v.Added, v.Modified, v.Removed, v.Commits = head.Added, head.Modified, head.Removed, commits
	return v, err
}

// comparePush asserts that the capture reads b exactly as encoding/json
// reads it into structs of the same shape: same type errors, same values.
func comparePush(t *testing.T, b []byte) {
	t.Helper()
	if strictjson.Check(b) != nil {
		return
	}
	var ref pushRef
	wantErr := json.Unmarshal(b, &ref)
	got, gotErr := captureView(t, b)
	if (wantErr != nil) != (gotErr != nil) {
		t.Fatalf("type errors differ on %q: encoding/json %v, capture %v", b, wantErr, gotErr)
	}
	if gotErr != nil {
		if !errors.Is(gotErr, ErrMalformed) {
			t.Fatalf("capture error does not wrap ErrMalformed: %v", gotErr)
		}
		return
	}
	if want := ref.view(); !reflect.DeepEqual(got, want) {
		t.Fatalf("capture differs from encoding/json on %q:\n got %+v\nwant %+v", b, got, want)
	}
}

func TestCaptureMatchesEncodingJSON(t *testing.T) {
	tag := payload(t, "push/tag-create.drone.json")
	branch := payload(t, "push/branch-push-forced.argo-cd.json")
	cases := map[string][]byte{
		"tag push":                    tag,
		"branch push":                 branch,
		"escaped strings":             edit(t, tag, `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0\u002e0.1\ud800"`),
		"upper-case key":              edit(t, tag, `"ref": "refs/tags/v0.0.1"`, `"REF": "refs/tags/v0.0.1"`),
		"escaped key":                 edit(t, tag, `"ref": "refs/tags/v0.0.1"`, `"r\u0065f": "refs/tags/v0.0.1"`),
		"null members":                []byte(`{"ref":null,"deleted":null,"installation":null,"repository":null,"head_commit":null,"commits":null}`),
		"null inside":                 []byte(`{"installation":{"id":null},"repository":{"full_name":null},"head_commit":{"added":[null,"a"]}}`),
		"ref a number":                []byte(`{"ref":7}`),
		"ref an object":               []byte(`{"ref":{}}`),
		"deleted a string":            []byte(`{"deleted":"true"}`),
		"deleted true":                []byte(`{"deleted":true}`),
		"installation id fraction":    []byte(`{"installation":{"id":1.5}}`),
		"installation id exponent":    []byte(`{"installation":{"id":1e3}}`),
		"installation id overflow":    []byte(`{"installation":{"id":9223372036854775808}}`),
		"installation id negative":    []byte(`{"installation":{"id":-4}}`),
		"installation an array":       []byte(`{"installation":[]}`),
		"repository a string":         []byte(`{"repository":"x"}`),
		"head_commit added a string":  []byte(`{"head_commit":{"added":"x"}}`),
		"head_commit added numbers":   []byte(`{"head_commit":{"added":[1]}}`),
		"head_commit id a number":     []byte(`{"head_commit":{"id":5}}`),
		"head_commit id null":         []byte(`{"head_commit":{"id":null,"message":"m"}}`),
		"commits an object":           []byte(`{"commits":{}}`),
		"commits of numbers":          []byte(`{"commits":[1]}`),
		"commits with a bad message":  []byte(`{"commits":[{"message":5}]}`),
		"same name in nested object":  []byte(`{"sender":{"ref":"x","login":"l"},"ref":"r"}`),
		"captured key at wrong depth": []byte(`{"repository":{"repository":{"full_name":"inner"}},"full_name":"outer"}`),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) { comparePush(t, b) })
	}
}

// FuzzCapture: the one-pass capture reads every payload as encoding/json
// reads it into structs of the same shape.
func FuzzCapture(f *testing.F) {
	seedPayloads(f, func(_ string, body []byte) { f.Add(body) })
	for _, s := range []string{`{"ref":7}`, `{"installation":{"id":1.5}}`, `{"head_commit":{"added":[null]}}`, `{"commits":[{"message":"m","added":["a"]}]}`, `{"Ref":"x","ſender":{"login":"k"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { comparePush(t, b) })
}

// Members the classifier does not read are not type-checked any more (only
// syntax, UTF-8 and duplicate keys are, for every byte): a tag push whose
// base_ref is a number (go-github's PushEvent would refuse it) still
// produces its intent.
func TestUnreadMembersAreOnlySyntaxChecked(t *testing.T) {
	rs := loadRules(t)
	b := edit(t, payload(t, "push/tag-create.drone.json"), `"base_ref": "refs/heads/master"`, `"base_ref": 5`)
	ins, err := Classify(rs, Delivery{Event: "push", ID: "d", Payload: b})
	if err != nil || len(ins) != 1 {
		t.Fatalf("%d intents, %v", len(ins), err)
	}
	b = edit(t, payload(t, "push/tag-create.drone.json"), `"base_ref": "refs/heads/master"`, `"base_ref": {"a": 1, "A": 2}`)
	if _, err := Classify(rs, Delivery{Event: "push", ID: "d", Payload: b}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("duplicate key in an unread member: %v", err)
	}
}

func TestCaptureTypeErrorsAnswer400(t *testing.T) {
	tag := payload(t, "push/tag-create.drone.json")
	wr := payload(t, "workflow_run/completed.octokit.json")
	cases := []struct {
		name, event string
		body        []byte
	}{
		{"push installation.id a string", "push", edit(t, tag, `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0.0.1", "installation": {"id": "5"}`)},
		{"push head_commit an array", "push", []byte(`{"ref": "refs/tags/v0.0.1", "head_commit": []}`)},
		{"push deleted a number", "push", edit(t, tag, `"deleted": false`, `"deleted": 0`)},
		{"push commits a string", "push", []byte(`{"ref": "refs/tags/v0.0.1", "commits": "none"}`)},
		{"workflow_run run_number a string", "workflow_run", edit(t, wr, `"run_number": 163`, `"run_number": "163"`)},
		{"workflow_run sender an array", "workflow_run", edit(t, wr, `"action": "completed",`, `"action": "completed", "sender": [],`)},
		{"ping repository a number", "ping", []byte(`{"repository": 5}`)},
		{"ping action an object", "ping", []byte(`{"action": {}}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, nil)
			w := f.do(delivery{event: tc.event, id: deliveryID, body: tc.body})
			if w.Code != 400 || len(f.pub.messages()) != 0 {
				t.Fatalf("status %d, %d published; %s", w.Code, len(f.pub.messages()), w.Body)
			}
		})
	}
}

// A checker reused from the pool after a hostile payload reads the next
// payload correctly.
func TestCheckerReuse(t *testing.T) {
	rs := loadRules(t)
	tag := payload(t, "push/tag-create.drone.json")
	for i := 0; i < 3; i++ {
		if err := strictjson.Check(manyKeys(50000, false)); err != nil {
			t.Fatal(err)
		}
		if err := strictjson.Check(manyKeys(100, true)); err == nil {
			t.Fatal("duplicate not found")
		}
		ins, err := Classify(rs, Delivery{Event: "push", ID: "d", Payload: tag})
		if err != nil || len(ins) != 1 || ins[0].Tag != "v0.0.1" {
			t.Fatalf("%v %v", ins, err)
		}
	}
}
