/** Absolute path of bench/go-sdk/main.go, the Go program's source. */
export declare const SOURCE: string
/** Builds (or finds cached) connect-bench against Consul `version` (default: the pinned one) and returns its absolute path. */
export declare function build (version?: string): string
/** GO_SDK_BIN if set (checked), else the cached or freshly built connect-bench. Synchronous. */
export declare function goSdkBin (): string
