// Command specgen extracts, from GitHub's OpenAPI description of the REST API,
// each operation's method, path template, operationId and required request
// body fields into a small gzipped JSON file that githubtest embeds.
//
// The input is rest-openapi.json from the npm package @octokit/openapi
// (generated/api.github.com.json), MIT-licensed: see OPENAPI_LICENSE.
package main

import (
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"sort"
	"strings"
)

// Op is one documented operation; githubtest decodes the same shape.
type Op struct {
	Method       string   `json:"method"`
	Path         string   `json:"path"`
	OperationID  string   `json:"operationId"`
	BodyRequired bool     `json:"bodyRequired,omitempty"`
	Required     []string `json:"required,omitempty"`
}

type spec struct {
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		Schemas       map[string]*schema      `json:"schemas"`
		RequestBodies map[string]*requestBody `json:"requestBodies"`
	} `json:"components"`
}

type requestBody struct {
	Ref      string `json:"$ref"`
	Required bool   `json:"required"`
	Content  map[string]struct {
		Schema *schema `json:"schema"`
	} `json:"content"`
}

type schema struct {
	Ref      string    `json:"$ref"`
	Type     any       `json:"type"`
	Required []string  `json:"required"`
	AllOf    []*schema `json:"allOf"`
	OneOf    []*schema `json:"oneOf"`
	AnyOf    []*schema `json:"anyOf"`
}

type operation struct {
	OperationID string       `json:"operationId"`
	RequestBody *requestBody `json:"requestBody"`
}

func main() {
	in := flag.String("in", "../../../shared/github/rest-openapi.json", "OpenAPI description")
	out := flag.String("out", "openapi_ops.json.gz", "output file")
	flag.Parse()
	if err := run(*in, *out); err != nil {
		fmt.Fprintln(os.Stderr, "specgen:", err)
		os.Exit(1)
	}
}

func run(in, out string) error {
	raw, err := os.ReadFile(in)
	if err != nil {
		return fmt.Errorf("read spec: %w", err)
	}
	var sp spec
	if err := json.Unmarshal(raw, &sp); err != nil {
		return fmt.Errorf("parse spec: %w", err)
	}
	var ops []Op
	for path, methods := range sp.Paths {
		for method, body := range methods {
			switch method {
			case "get", "post", "put", "patch", "delete", "head":
			default:
				continue // parameters, summary, ...
			}
			var op operation
			if err := json.Unmarshal(body, &op); err != nil {
				return fmt.Errorf("%s %s: %w", method, path, err)
			}
			o := Op{Method: strings.ToUpper(method), Path: path, OperationID: op.OperationID}
			if rb := resolveBody(&sp, op.RequestBody); rb != nil {
				o.BodyRequired = rb.Required
				if c, ok := rb.Content["application/json"]; ok && c.Schema != nil {
					o.Required = required(&sp, c.Schema, 0)
				}
			}
			sort.Strings(o.Required)
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool {
		if ops[i].Path != ops[j].Path {
			return ops[i].Path < ops[j].Path
		}
		return ops[i].Method < ops[j].Method
	})
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("create output: %w", err)
	}
	zw, err := gzip.NewWriterLevel(f, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	enc := json.NewEncoder(zw)
	enc.SetIndent("", " ")
	if err := enc.Encode(ops); err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("gzip close: %w", err)
	}
	return f.Close()
}

func resolveBody(sp *spec, rb *requestBody) *requestBody {
	for i := 0; rb != nil && rb.Ref != "" && i < 10; i++ {
		rb = sp.Components.RequestBodies[strings.TrimPrefix(rb.Ref, "#/components/requestBodies/")]
	}
	return rb
}

func resolve(sp *spec, s *schema) *schema {
	for i := 0; s != nil && s.Ref != "" && i < 10; i++ {
		s = sp.Components.Schemas[strings.TrimPrefix(s.Ref, "#/components/schemas/")]
	}
	return s
}

// required lists fields every valid body must have: allOf unions, oneOf and
// anyOf intersect, and an alternative that is not an object requires nothing.
func required(sp *spec, s *schema, depth int) []string {
	s = resolve(sp, s)
	if s == nil || depth > 10 {
		return nil
	}
	set := map[string]bool{}
	for _, r := range s.Required {
		set[r] = true
	}
	for _, sub := range s.AllOf {
		for _, r := range required(sp, sub, depth+1) {
			set[r] = true
		}
	}
	alts := append(append([]*schema(nil), s.OneOf...), s.AnyOf...)
	if len(alts) > 0 {
		var common map[string]bool
		for _, a := range alts {
			ra := resolve(sp, a)
			if ra != nil && ra.Type != nil && ra.Type != "object" {
				common = map[string]bool{}
				break
			}
			cur := map[string]bool{}
			for _, r := range required(sp, a, depth+1) {
				cur[r] = true
			}
			if common == nil {
				common = cur
				continue
			}
			for k := range common {
				if !cur[k] {
					delete(common, k)
				}
			}
		}
		for k := range common {
			set[k] = true
		}
	}
	out := make([]string, 0, len(set))
	for k := range set {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
