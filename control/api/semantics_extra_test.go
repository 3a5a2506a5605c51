package api_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/minicluster/mini/control/client"
	"github.com/minicluster/mini/control/plane/plantest"
)

// TestPathEdges covers paths Kubernetes refuses.
func TestPathEdges(t *testing.T) {
	env := plantest.Start(t, plantest.Options{})
	ctx := context.Background()
	tests := []struct {
		name, method, path string
		body               string // the body, or the query of a GET
		want               int
	}{
		{"create on the cluster-wide path of a namespaced resource", http.MethodPost, "/api/v1/pods",
			`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"default"},"spec":{"containers":[{"name":"c","image":"x:1"}]}}`, http.StatusMethodNotAllowed},
		{"deletecollection on the cluster-wide path", http.MethodDelete, "/api/v1/configmaps", "", http.StatusMethodNotAllowed},
		{"empty group", http.MethodGet, "/apis//v1/namespaces", "", http.StatusNotFound},
		{"watch from a future revision", http.MethodGet, "/api/v1/configmaps", "watch=1&resourceVersion=999999999", http.StatusGatewayTimeout},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := client.Request{Method: tc.method, Path: tc.path}
			if tc.method == http.MethodGet {
				r.Query, _ = url.ParseQuery(tc.body)
			} else if tc.body != "" {
				r.Body = []byte(tc.body)
			}
			_, err := env.Client.Do(ctx, r)
			var se *apierrors.StatusError
			if !asStatus(err, &se) || int(se.ErrStatus.Code) != tc.want {
				t.Fatalf("%s %s: %v; want HTTP %d", tc.method, tc.path, err, tc.want)
			}
		})
	}
}

func asStatus(err error, se **apierrors.StatusError) bool {
	s, ok := err.(*apierrors.StatusError)
	*se = s
	return ok
}
