package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	openapi_v2 "github.com/google/gnostic-models/openapiv2"
	"google.golang.org/protobuf/proto"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// mini publishes just enough OpenAPI for kubectl: every PATCH operation
// declares the fieldValidation query parameter, so kubectl's default
// --validate=strict delegates validation to the server (which rejects
// unknown fields, see decodeInto) instead of validating client-side against
// schemas mini does not publish. The v2 document is empty of schemas; kubectl
// downloads it before deciding and skips kinds it does not describe.

const pbV2 = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"

func (s *Server) serveOpenAPIv2(w http.ResponseWriter, r *http.Request) {
	doc := &openapi_v2.Document{
		Swagger:     "2.0",
		Info:        &openapi_v2.Info{Title: "mini", Version: s.cfg.Version},
		Paths:       &openapi_v2.Paths{},
		Definitions: &openapi_v2.Definitions{},
	}
	for _, res := range s.reg.Resources() {
		doc.Paths.Path = append(doc.Paths.Path, &openapi_v2.NamedPathItem{
			Name: objectPath(res),
			Value: &openapi_v2.PathItem{Patch: &openapi_v2.Operation{
				OperationId: "patch" + res.Kind,
				Parameters: []*openapi_v2.ParametersItem{{Oneof: &openapi_v2.ParametersItem_Parameter{
					Parameter: &openapi_v2.Parameter{Oneof: &openapi_v2.Parameter_NonBodyParameter{
						NonBodyParameter: &openapi_v2.NonBodyParameter{Oneof: &openapi_v2.NonBodyParameter_QueryParameterSubSchema{
							QueryParameterSubSchema: &openapi_v2.QueryParameterSubSchema{In: "query", Name: "fieldValidation", Type: "string"},
						}},
					}},
				}}},
				VendorExtension: []*openapi_v2.NamedAny{{
					Name: "x-kubernetes-group-version-kind",
					Value: &openapi_v2.Any{Yaml: fmt.Sprintf("group: %q\nversion: %s\nkind: %s\n",
						res.Group, res.Version, res.Kind)},
				}},
			}},
		})
	}
	if strings.Contains(r.Header.Get("Accept"), "protobuf") {
		data, err := proto.Marshal(doc)
		if err != nil {
			s.writeError(w, r, apierrors.NewInternalError(err))
			return
		}
		w.Header().Set("Content-Type", pbV2)
		w.Write(data)
		return
	}
	s.writeObject(w, r, http.StatusOK, map[string]any{
		"swagger": "2.0", "info": map[string]string{"title": "mini", "version": s.cfg.Version},
		"paths": map[string]any{}, "definitions": map[string]any{},
	})
}

// objectPath is the OpenAPI path of one object of the resource.
func objectPath(res *Resource) string {
	p := "/api/v1/"
	if res.Group != "" {
		p = "/apis/" + res.Group + "/" + res.Version + "/"
	}
	if res.Namespaced {
		p += "namespaces/{namespace}/"
	}
	return p + res.Name + "/{name}"
}

func gvPath(gv schema.GroupVersion) string {
	if gv.Group == "" {
		return "api/" + gv.Version
	}
	return "apis/" + gv.Group + "/" + gv.Version
}

// openAPIv3Doc builds the document of one group version.
func (s *Server) openAPIv3Doc(group string) []byte {
	paths := map[string]any{}
	for _, res := range s.reg.InGroup(group) {
		params := []any{}
		for _, p := range []string{"dryRun", "fieldManager", "fieldValidation", "force"} {
			params = append(params, map[string]any{"name": p, "in": "query", "schema": map[string]any{"type": "string", "uniqueItems": true}})
		}
		paths[objectPath(res)] = map[string]any{
			"patch": map[string]any{
				"operationId":                     "patch" + strings.ReplaceAll(strings.Title(res.Group), ".", "") + res.Kind,
				"parameters":                      params,
				"x-kubernetes-action":             "patch",
				"x-kubernetes-group-version-kind": map[string]string{"group": res.Group, "version": res.Version, "kind": res.Kind},
				"responses":                       map[string]any{"200": map[string]any{"description": "OK"}},
			},
		}
	}
	doc := map[string]any{
		"openapi":    "3.0.0",
		"info":       map[string]string{"title": "mini", "version": s.cfg.Version},
		"paths":      paths,
		"components": map[string]any{"schemas": map[string]any{}},
	}
	data, _ := json.Marshal(doc)
	return data
}

func (s *Server) serveOpenAPIv3(w http.ResponseWriter, r *http.Request, sub string) {
	if sub == "" {
		paths := map[string]any{}
		for _, g := range s.reg.Groups() {
			gv := s.reg.InGroup(g)[0].GroupVersion()
			sum := sha256.Sum256(s.openAPIv3Doc(g))
			paths[gvPath(gv)] = map[string]string{"serverRelativeURL": "/openapi/v3/" + gvPath(gv) + "?hash=" + strings.ToUpper(hex.EncodeToString(sum[:8]))}
		}
		s.writeObject(w, r, http.StatusOK, map[string]any{"paths": paths})
		return
	}
	for _, g := range s.reg.Groups() {
		if gvPath(s.reg.InGroup(g)[0].GroupVersion()) == sub {
			w.Header().Set("Content-Type", "application/json")
			w.Write(s.openAPIv3Doc(g))
			return
		}
	}
	s.writeError(w, r, apierrors.NewNotFound(schema.GroupResource{}, sub))
}
