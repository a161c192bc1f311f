/** The canonical Cloudstate shopping cart (service and persisted domain events). */
export * as shoppingcart from "./gen/shoppingcart/shoppingcart_pb.js";
export * as domain from "./gen/shoppingcart/persistence/domain_pb.js";
