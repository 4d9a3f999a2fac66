/*
 * objects: the Kubernetes object model, only the fields compile needs.
 *
 * Both providers hand json-c documents (YAML is converted by manifest.c) to
 * objects_from_json(), which validates them and copies what matters into
 * the small structs below.  Nothing else of an object is kept, so memory
 * grows with routes, not with object size.  Runs in the master only.
 */
#ifndef INGRESSD_OBJECTS_H
#define INGRESSD_OBJECTS_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

enum obj_kind {
	OBJ_INGRESS = 0,
	OBJ_INGRESS_CLASS = 1,
	OBJ_SERVICE = 2,
	OBJ_ENDPOINT_SLICE = 3,
	OBJ_ENDPOINTS = 4,
	OBJ_SECRET = 5,
	OBJ_KIND_COUNT
};

struct obj_kv {
	char		*key;
	char		*value;
};

struct obj_meta {
	char		*namespace;	/* "default" when absent */
	char		*name;
	char		*uid;		/* NULL when absent */
	char		*resource_version;	/* NULL when absent */
	int64_t		 creation;	/* creationTimestamp, unix seconds;
					 * INT64_MAX when absent (youngest) */
	struct obj_kv	*annotations;	/* only "ingressd.io/" keys and
					 * kubernetes.io/ingress.class and
					 * ingressclass.kubernetes.io/... */
	size_t		 nannotations;
};

/* A backend reference: a Service port by number or by name. */
struct obj_backend {
	char		*service;	/* NULL: resource backend (unsupported) */
	char		*port_name;	/* NULL when by number */
	int32_t		 port_number;	/* 0 when by name */
};

enum obj_path_type {
	OBJ_PATH_EXACT = 0,
	OBJ_PATH_PREFIX = 1,
	OBJ_PATH_IMPLEMENTATION_SPECIFIC = 2,
};

struct obj_ingress_path {
	char		*path;		/* "/" when absent (v1beta1) */
	enum obj_path_type type;
	struct obj_backend backend;
};

struct obj_ingress_rule {
	char		*host;		/* lower case; NULL: any host */
	struct obj_ingress_path *paths;
	size_t		 npaths;
};

struct obj_ingress_tls {
	char		**hosts;
	size_t		 nhosts;
	char		*secret;	/* NULL when absent */
};

struct obj_ingress {
	char		*class_name;	/* spec.ingressClassName or NULL */
	char		*class_annotation;	/* kubernetes.io/ingress.class */
	struct obj_backend *default_backend;	/* NULL when absent */
	struct obj_ingress_rule *rules;
	size_t		 nrules;
	struct obj_ingress_tls *tls;
	size_t		 ntls;
	char		*status_lb;	/* status.loadBalancer.ingress as
					 * "ip-or-hostname,..."; NULL: none */
};

struct obj_ingress_class {
	char		*controller;
	int		 is_default;	/* is-default-class annotation "true" */
};

struct obj_service_port {
	char		*name;		/* NULL when unnamed */
	int32_t		 port;
	char		*target_port_name;	/* NULL when numeric */
	int32_t		 target_port;	/* 0: same as port (or by name) */
	char		*protocol;	/* "TCP" default */
};

struct obj_service {
	char		*type;		/* "ClusterIP" default */
	char		*external_name;	/* type ExternalName */
	struct obj_service_port *ports;
	size_t		 nports;
};

struct obj_endpoint {
	char		**addresses;
	size_t		 naddresses;
	int		 ready;		/* conditions.ready; absent = 1 */
	int		 serving;	/* absent = ready */
	int		 terminating;	/* absent = 0 */
};

struct obj_endpoint_port {
	char		*name;		/* "" or NULL when unnamed */
	int32_t		 port;
	char		*protocol;
};

/*
 * An EndpointSlice; v1 Endpoints are converted to one slice per subset
 * (addresses ready, notReadyAddresses not ready) with service_name set to
 * the Endpoints' own name.
 */
struct obj_endpoint_slice {
	char		*service_name;	/* label kubernetes.io/service-name */
	char		*address_type;	/* "IPv4", "IPv6", "FQDN" */
	struct obj_endpoint *endpoints;
	size_t		 nendpoints;
	struct obj_endpoint_port *ports;
	size_t		 nports;
};

struct obj_endpoints {
	struct obj_endpoint_slice *subsets;
	size_t		 nsubsets;
};

struct obj_secret {
	char		*type;		/* "kubernetes.io/tls" ... */
	unsigned char	*tls_crt;	/* base64-decoded, NUL-terminated */
	size_t		 tls_crt_len;
	unsigned char	*tls_key;
	size_t		 tls_key_len;
	unsigned char	*ca_crt;	/* backend TLS trust (backend_ca.c) */
	size_t		 ca_crt_len;
};

struct obj {
	enum obj_kind	 kind;
	struct obj_meta	 meta;
	char		*origin;	/* "file.yaml doc 2" or "kube" */
	union {
		struct obj_ingress		ingress;
		struct obj_ingress_class	ingress_class;
		struct obj_service		service;
		struct obj_endpoint_slice	endpoint_slice;
		struct obj_endpoints		endpoints;
		struct obj_secret		secret;
	} u;
};

#define OBJ_MAX_STRING		4096	/* any single string field */
#define OBJ_MAX_LIST		10000	/* any list (rules, paths, ports) */

/*
 * Turns one parsed document into an object.  Returns 0 and a new object in
 * *<out> (caller frees with objects_free()), 1 when the document is of a
 * kind or apiVersion ingressd does not keep (ignored, *<out> NULL), or -1
 * with a reason naming the field in <err> for an invalid object.
 */
int	objects_from_json(struct json_object *doc, struct obj **out,
	    char *err, size_t errlen);

void	objects_free(struct obj *o);

/* "Ingress", "Service", ... */
const char *objects_kind_name(enum obj_kind kind);

/* Value of annotation <key>, or NULL. */
const char *objects_annotation(const struct obj *o, const char *key);

#endif
