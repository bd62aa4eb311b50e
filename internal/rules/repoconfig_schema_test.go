package rules

import (
	"encoding/json"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"
)

// TestRepoConfigSchemaMatchesTypes keeps config/repo-config.schema.json in
// step with RepoConfig: its own objects list exactly the yaml names of
// their structs, and every reference into the rules schema resolves.
func TestRepoConfigSchemaMatchesTypes(t *testing.T) {
	read := func(name string) map[string]any {
		data, err := os.ReadFile("../../config/" + name)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatalf("%s is not valid JSON: %v", name, err)
		}
		return m
	}
	rc, rulesSchema := read("repo-config.schema.json"), read("promotion-rules.schema.json")
	props := func(o map[string]any) []string {
		var out []string
		for k := range o["properties"].(map[string]any) {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	fields := func(typ reflect.Type) []string {
		var out []string
		for k := range yamlFields(typ) {
			out = append(out, k)
		}
		sort.Strings(out)
		return out
	}
	defs := rc["$defs"].(map[string]any)
	for name, o := range map[string]map[string]any{
		"root":      rc,
		"service":   defs["service"].(map[string]any),
		"generator": defs["generator"].(map[string]any),
	} {
		typ := map[string]reflect.Type{"root": reflect.TypeFor[RepoConfig](), "service": reflect.TypeFor[RepoService](), "generator": reflect.TypeFor[RepoGenerator]()}[name]
		if got, want := props(o), fields(typ); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: schema properties %v, Go yaml fields %v", name, got, want)
		}
		if o["additionalProperties"] != false {
			t.Errorf("%s: additionalProperties must be false", name)
		}
	}
	rdefs := rulesSchema["$defs"].(map[string]any)
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				if name, ok := strings.CutPrefix(ref, "promotion-rules.schema.json#/$defs/"); ok {
					if rdefs[name] == nil {
						t.Errorf("$ref %s does not resolve", ref)
					}
				} else if name, ok := strings.CutPrefix(ref, "#/$defs/"); !ok || defs[name] == nil {
					t.Errorf("$ref %s does not resolve", ref)
				}
			}
			for _, c := range x {
				walk(c)
			}
		case []any:
			for _, c := range x {
				walk(c)
			}
		}
	}
	walk(rc)
}
