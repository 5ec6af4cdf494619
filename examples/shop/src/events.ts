import type { BucketEvents } from "@nimbus/core";

/** One line of an order. */
export interface OrderLine {
  sku: string;
  quantity: number;
  /** Price of one item, in cents. */
  price: number;
}

/** The detail of an `OrderPaid` event, and what the API stores under `orders/<id>.json`. */
export interface OrderPaid {
  id: string;
  email: string;
  lines: OrderLine[];
  /** In cents. */
  total: number;
  paidAt: string;
}

/** What the shop writes under `receipts/<id>.json` once an order is fulfilled. */
export interface Receipt {
  orderId: string;
  email: string;
  total: number;
  fulfilledAt: string;
}

/** The shop's bus: each detail-type mapped to its detail; the receipts bucket's notifications come on it too. */
export interface ShopEvents extends BucketEvents {
  OrderPaid: OrderPaid;
}
