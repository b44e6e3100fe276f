//! Echoes every WIT value type back (`example:echo/echo@1.0.0`), so the
//! host's JSON <-> component value mapping can be tested end to end.

wit_bindgen::generate!({
    inline: "
        package local:echo-types;
        world echo-types { export example:echo/echo@1.0.0; }
    ",
    path: "../../wit",
});

use exports::example::echo::echo::{Color, Guest, Nested, Perms, Point, Shape};

struct Echo;

impl Guest for Echo {
    fn echo_bool(v: bool) -> bool { v }
    fn echo_s8(v: i8) -> i8 { v }
    fn echo_u8(v: u8) -> u8 { v }
    fn echo_s16(v: i16) -> i16 { v }
    fn echo_u16(v: u16) -> u16 { v }
    fn echo_s32(v: i32) -> i32 { v }
    fn echo_u32(v: u32) -> u32 { v }
    fn echo_s64(v: i64) -> i64 { v }
    fn echo_u64(v: u64) -> u64 { v }
    fn echo_f32(v: f32) -> f32 { v }
    fn echo_f64(v: f64) -> f64 { v }
    fn echo_char(v: char) -> char { v }
    fn echo_string(v: String) -> String { v }
    fn echo_list(v: Vec<u32>) -> Vec<u32> { v }
    fn echo_tuple(v: (String, u8, bool)) -> (String, u8, bool) { v }
    fn echo_record(v: Point) -> Point { v }
    fn echo_nested(v: Nested) -> Nested { v }
    fn echo_variant(v: Shape) -> Shape { v }
    fn echo_enum(v: Color) -> Color { v }
    fn echo_option(v: Option<u32>) -> Option<u32> { v }
    fn echo_option_option(v: Option<Option<u32>>) -> Option<Option<u32>> { v }
    fn echo_result(v: Result<String, u32>) -> Result<String, u32> { v }
    fn echo_result_empty(v: Result<(), ()>) -> Result<(), ()> { v }
    fn echo_results(v: Vec<Result<String, u32>>) -> Vec<Result<String, u32>> { v }
    fn echo_flags(v: Perms) -> Perms { v }
    fn echo_deep(v: Vec<Vec<Option<Point>>>) -> Vec<Vec<Option<Point>>> { v }
    fn echo_many(a: u8, b: String, c: Option<Color>) -> (u8, String, Option<Color>) { (a, b, c) }
}

export!(Echo);
