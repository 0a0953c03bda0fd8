// The shape of the CustomResourceDefinitions the Kubernetes API double (kube-api-double.ts, a TEST
// DOUBLE) serves from: the subset of apiextensions.k8s.io/v1 it applies. Its own file so that CRD
// lists (policy-crds.ts) and the double can share it without an import cycle.

/**
 * The subset of a structural OpenAPI v3 schema (apiextensions.k8s.io/v1 JSONSchemaProps) the double
 * applies to custom resources, in the API server's order: unknown fields are pruned, `default`s
 * filled in, then `type`, `enum`, `required`, `maxItems`, `minimum`/`maximum` and `maxLength` checked
 * (422 Invalid naming the field). No `pattern`, `format` or CEL rules.
 */
export interface JSONSchemaProps {
  readonly type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  readonly description?: string;
  readonly properties?: Readonly<Record<string, JSONSchemaProps>>;
  /** A map: every key kept, each value by this schema. */
  readonly additionalProperties?: JSONSchemaProps;
  readonly items?: JSONSchemaProps;
  readonly required?: readonly string[];
  readonly enum?: readonly unknown[];
  readonly default?: unknown;
  readonly maxItems?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly minimum?: number;
  readonly maximum?: number;
  readonly 'x-kubernetes-preserve-unknown-fields'?: boolean;
  readonly 'x-kubernetes-int-or-string'?: boolean;
  readonly 'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  readonly 'x-kubernetes-list-map-keys'?: readonly string[];
}

/** The subset of an apiextensions.k8s.io/v1 CustomResourceDefinition the double serves from. */
export interface CustomResourceDefinition {
  readonly metadata: { readonly name: string };
  readonly spec: {
    readonly group: string;
    readonly scope: 'Namespaced' | 'Cluster';
    readonly names: {
      readonly plural: string;
      readonly singular: string;
      readonly kind: string;
      readonly listKind?: string;
      readonly shortNames?: readonly string[];
    };
    readonly versions: readonly {
      readonly name: string;
      readonly served: boolean;
      readonly storage?: boolean;
      readonly subresources?: { readonly status?: object };
      /** Without one every field is kept, as with x-kubernetes-preserve-unknown-fields. */
      readonly schema?: { readonly openAPIV3Schema: JSONSchemaProps };
    }[];
  };
}
