/** The versions this member reports: KeyVal's own, and the etcd server version it speaks (clients check it). */
export const KEYVAL_PRODUCT_VERSION = '0.1.0';
export const ETCD_VERSION = '3.4.0';
/** What Maintenance.Status and the Admin API report as the server version. */
export const KEYVAL_VERSION = `${ETCD_VERSION}-keyval.${KEYVAL_PRODUCT_VERSION}`;
