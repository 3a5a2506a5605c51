package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Resource is one resource as the server's discovery documents list it:
// where it lives and the names users may call it by.
type Resource struct {
	Info
	Singular   string   // "pod"
	ShortNames []string // "po"
	Categories []string // "all"
	Verbs      []string
	// Subresources are the resource's subresources ("scale", "log", …).
	Subresources []string
}

// HasSubresource reports whether the resource serves sub.
func (r Resource) HasSubresource(sub string) bool {
	for _, s := range r.Subresources {
		if s == sub {
			return true
		}
	}
	return false
}

// Discover reads the server's discovery documents (/api/v1, /apis and each
// group's preferred version, the groups fetched in parallel) and returns
// every top-level resource, core first, in the server's order.
func (c *Client) Discover(ctx context.Context) ([]Resource, error) {
	var groups metav1.APIGroupList
	if err := c.getJSON(ctx, "/apis", &groups); err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	paths := []string{"/api/v1"}
	for _, g := range groups.Groups {
		paths = append(paths, "/apis/"+g.PreferredVersion.GroupVersion)
	}
	lists := make([]metav1.APIResourceList, len(paths))
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.getJSON(ctx, p, &lists[i])
		}()
	}
	wg.Wait()
	var out []Resource
	for i, l := range lists {
		if errs[i] != nil {
			return nil, fmt.Errorf("discovery of %s: %w", paths[i], errs[i])
		}
		out = append(out, resourcesOf(l)...)
	}
	return out, nil
}

// resourcesOf converts one APIResourceList, with each subresource listed
// on its resource.
func resourcesOf(l metav1.APIResourceList) []Resource {
	var out []Resource
	subs := map[string][]string{}
	for _, r := range l.APIResources {
		if parent, sub, ok := strings.Cut(r.Name, "/"); ok {
			subs[parent] = append(subs[parent], sub)
		}
	}
	group, version := "", l.GroupVersion
	if i := strings.IndexByte(l.GroupVersion, '/'); i >= 0 {
		group, version = l.GroupVersion[:i], l.GroupVersion[i+1:]
	}
	for _, r := range l.APIResources {
		if strings.Contains(r.Name, "/") {
			continue
		}
		singular := r.SingularName
		if singular == "" {
			singular = strings.ToLower(r.Kind)
		}
		out = append(out, Resource{
			Info:     Info{Group: group, Version: version, Resource: r.Name, Kind: r.Kind, Namespaced: r.Namespaced},
			Singular: singular, ShortNames: r.ShortNames, Categories: r.Categories, Verbs: r.Verbs,
			Subresources: subs[r.Name],
		})
	}
	return out
}

func (c *Client) getJSON(ctx context.Context, path string, into any) error {
	data, err := c.Do(ctx, Request{Method: http.MethodGet, Path: path})
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("decoding %s: %w", path, err)
	}
	return nil
}
