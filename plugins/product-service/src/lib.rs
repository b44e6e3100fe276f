//! The seed's `product-service`, exporting `example:products/products@1.0.0`:
//! the "good service design" example (clear data, validation, idempotence).

wit_bindgen::generate!({
    inline: "
        package local:product-service;
        world product-service { export example:products/products@1.0.0; }
    ",
    path: "../../wit",
});

use exports::example::products::products::{Guest, Product, ProductPatch};
use std::cell::RefCell;
use std::collections::BTreeMap;

thread_local! {
    static PRODUCTS: RefCell<BTreeMap<i64, Product>> = RefCell::new(BTreeMap::new());
}

fn default_product(id: i64) -> Product {
    Product { id, name: "Product Name".into(), price: 99.99, stock: 10, status: "active".into() }
}

struct ProductService;

impl Guest for ProductService {
    fn get_product(id: i64) -> Product {
        PRODUCTS.with(|p| p.borrow().get(&id).cloned()).unwrap_or_else(|| default_product(id))
    }

    fn update_product(id: i64, data: ProductPatch) -> Result<Product, String> {
        if id <= 0 {
            return Err("Invalid product ID".into());
        }
        let mut product = Self::get_product(id);
        if let Some(name) = data.name {
            product.name = name;
        }
        if let Some(price) = data.price {
            product.price = price;
        }
        if let Some(stock) = data.stock {
            product.stock = stock;
        }
        if let Some(status) = data.status {
            product.status = status;
        }
        PRODUCTS.with(|p| p.borrow_mut().insert(id, product.clone()));
        Ok(product)
    }

    fn activate_product(id: i64) -> Result<Product, String> {
        Self::update_product(
            id,
            ProductPatch { name: None, price: None, stock: None, status: Some("active".into()) },
        )
    }
}

export!(ProductService);
