/** The pinned Consul release the project is tested against. */
export declare const PINNED_CONSUL_VERSION: string
/** Directory where built Consul binaries are cached. */
export declare function cacheDir (): string
/** Builds (or finds cached) Consul `version` and returns the binary's absolute path. */
export declare function build (version?: string): string
/** CONSUL_BIN if set (checked), else the cached or freshly built pinned binary. */
export declare function consulBin (): string
