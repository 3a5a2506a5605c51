package agentserver

import (
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"

	"github.com/minicluster/mini/node/runtime"
)

func (s *server) servePortForward(w http.ResponseWriter, r *http.Request, pod *corev1.Pod, st *runtime.PodState) {
	badRequest(w, fmt.Errorf("port-forward is not served by this node agent yet"))
}
