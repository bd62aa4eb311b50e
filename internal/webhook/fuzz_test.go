package webhook

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// seedPayloads adds every test payload with its event name.
func seedPayloads(f *testing.F, add func(event string, body []byte)) {
	files, err := filepath.Glob("testdata/payloads/*/*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		add(filepath.Base(filepath.Dir(p)), b)
	}
	for _, s := range []string{`{}`, `null`, `{"a":[1,2,{"b":null}]}`, `{"ref":"refs/tags/v1","ref":"x"}`, `{"ref":"a","REF":"b"}`, "{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `[[[[`, `{"a":-0.1e+5}`} {
		add("push", []byte(s))
		add("workflow_run", []byte(s))
	}
}

// FuzzClassify: random events and bodies never panic, an accepted body is
// valid JSON to encoding/json too, and every intent produced validates.
func FuzzClassify(f *testing.F) {
	seedPayloads(f, func(event string, body []byte) { f.Add(event, body) })
	rs := loadRules(f)
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		ins, err := Classify(rs, Delivery{Event: event, ID: "fuzz-1", Payload: body, Received: fixedNow})
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassified error: %v", err)
			}
			if ins != nil {
				t.Fatal("intents with an error")
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("checker accepted what encoding/json refuses: %q", body)
		}
		for _, in := range ins {
			if err := in.Validate(); err != nil {
				t.Fatalf("invalid intent: %v", err)
			}
			if in.DeliveryID != "fuzz-1" || !strings.HasPrefix(in.ID, "fuzz-1:") {
				t.Fatalf("intent ids: %+v", in)
			}
		}
	})
}

// FuzzServeHTTP: random headers and bodies never panic, the status is one
// the handler documents, and something is published only with a 202.
func FuzzServeHTTP(f *testing.F) {
	seedPayloads(f, func(event string, body []byte) {
		f.Add("POST", event, "d-1", "application/json", uint8(0), body)
	})
	f.Add("GET", "push", "d-1", "application/json", uint8(0), []byte(`{}`))
	f.Add("POST", "push", "", "text/plain", uint8(1), []byte(`{}`))
	f.Add("POST", "push", "d-1", "application/x-www-form-urlencoded", uint8(0), []byte(`payload=%7B%7D`))
	f.Add("POST", "push", "d-1", "application/json", uint8(2), []byte(`{}`))
	fx := newFixture(f, nil)
	allowed := map[int]bool{200: true, 202: true, 400: true, 401: true, 405: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, method, event, id, contentType string, sigMode uint8, body []byte) {
		before := len(fx.pub.messages())
		d := delivery{method: method, event: event, id: id, body: body, contentType: &contentType}
		switch sigMode % 3 {
		case 1:
			d.sig = strp("")
		case 2:
			d.sig = strp(sign([]byte("wrong"), body))
		}
		if !validMethod(method) {
			return // httptest.NewRequest panics on these itself
		}
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, d.request())
		if !allowed[w.Code] {
			t.Fatalf("status %d", w.Code)
		}
		published := len(fx.pub.messages()) - before
		if published > 0 && w.Code != 202 {
			t.Fatalf("published %d with status %d", published, w.Code)
		}
		if sigMode%3 != 0 && w.Code != 401 && w.Code != 405 && w.Code != 413 {
			t.Fatalf("unsigned delivery got %d", w.Code)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
