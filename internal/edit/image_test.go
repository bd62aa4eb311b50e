package edit

import (
	"errors"
	"strings"
	"testing"
)

func TestImage(t *testing.T) {
	kust := func(entry string) []byte {
		return []byte("resources: [../base]\nimages:\n  - name: registry.example.com/web\n" + entry)
	}
	tests := []struct {
		name string
		data []byte
		spec Spec
		want string
		ref  string
		err  string
	}{
		{"kustomize without newName", kust("    newTag: v1\n"), Spec{Kind: KindKustomize, Image: "registry.example.com/web"}, "registry.example.com/web", "v1", ""},
		{"kustomize newName", kust("    newName: mirror.example.com/web\n    newTag: v1\n"), Spec{Kind: KindKustomize, Image: "registry.example.com/web"}, "mirror.example.com/web", "v1", ""},
		{"kustomize other image", kust("    newTag: v1\n"), Spec{Kind: KindKustomize, Image: "registry.example.com/api"}, "", "", "no images entry"},
		{"manifest", []byte("kind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: registry.example.com:5000/team/web:v2@sha256:" + strings.Repeat("a", 64) + "\n"),
			Spec{Kind: KindManifest, Image: "registry.example.com/web", Container: "web"}, "registry.example.com:5000/team/web", "v2@sha256:" + strings.Repeat("a", 64), ""},
		{"helm repository beside the tag", []byte("image:\n  repository: mirror.example.com/api\n  tag: a2\n"), Spec{Kind: KindHelm, Image: "registry.example.com/api", Field: "image.tag"}, "mirror.example.com/api", "a2", ""},
		{"helm without repository", []byte("image:\n  tag: a2\n"), Spec{Kind: KindHelm, Image: "registry.example.com/api", Field: "image.tag"}, "registry.example.com/api", "a2", ""},
		{"helm repository not a scalar", []byte("image:\n  repository: [x]\n  tag: a2\n"), Spec{Kind: KindHelm, Image: "registry.example.com/api", Field: "image.tag"}, "registry.example.com/api", "a2", ""},
		{"top-level helm field", []byte("tag: a2\nrepository: other/api\n"), Spec{Kind: KindHelm, Image: "registry.example.com/api", Field: "tag"}, "other/api", "a2", ""},
		{"not yaml", []byte("images: [\n"), Spec{Kind: KindKustomize, Image: "registry.example.com/web"}, "", "", "yaml"},
		{"bad spec", kust(""), Spec{Kind: KindHelm, Image: "x", Field: "a..b"}, "", "", "field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Image(tc.data, tc.spec)
			ref, img, gerr := GetImage(tc.data, tc.spec)
			if tc.err != "" {
				if err == nil || gerr == nil {
					t.Fatalf("Image %q %v, GetImage %v: want error %q", got, err, gerr, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("Image = %q, %v; want %q", got, err, tc.want)
			}
			if gerr != nil || img != tc.want || ref.String() != tc.ref {
				t.Errorf("GetImage = %q %q %v; want %q %q", ref, img, gerr, tc.ref, tc.want)
			}
		})
	}
	if _, _, err := GetImage(kust("    newName: x\n"), Spec{Kind: KindKustomize, Image: "registry.example.com/web"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("entry without a tag: %v, want ErrNotFound", err)
	}
}
