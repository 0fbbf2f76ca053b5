{{- /*
The helpers (names, labels, objects, pod security) are foohut-common's, shared
with foohut-backend and foohut-frontend: see ../../foohut-common/templates/.
*/ -}}
